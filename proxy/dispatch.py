"""The one generic path every proxy call takes, whatever its kind or transport.

A transport decodes a call into a typed request, asks :meth:`Dispatcher.authorize`
about the shared secret, and awaits :meth:`Dispatcher.call`; the dispatcher
hands the request to the :class:`Handler` (the inline executor or the worker
pool) and checks what comes back.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterable
from typing import Protocol

from hub.centrifugo import Disconnect, Error, ErrorCode, Kind, Outcome, PayloadError, ProxySettings, Request

from .errors import CallFailed, Unauthenticated
from .stats import CallStats

log = logging.getLogger(__name__)
#: An error message sent back to a client is kept short (the payload's problem, not the payload).
_MESSAGE_LIMIT = 200


class Handler(Protocol):
    """Runs the application's handler for one call (inline, or in a worker pool)."""

    async def handle(self, request: Request) -> Outcome:
        """The call's outcome; raise :class:`CallFailed` for a fault."""
        ...


class Dispatcher:
    """Checks, times and hands each decoded call to the handler."""

    def __init__(self, handler: Handler, settings: ProxySettings) -> None:
        self.handler = handler
        self.settings = settings
        self.stats = CallStats()
        self._secret = settings.secret.encode()
        self._forward = frozenset(settings.forward_headers)

    def authorize(self, values: list[str]) -> None:
        """Accept a call only if the secret header came exactly once, with the right value."""
        if len(values) != 1 or not hmac.compare_digest(values[0].encode(), self._secret):
            self.stats.refused += 1
            raise Unauthenticated(f"missing or wrong {self.settings.secret_header}")

    def forwarded(self, items: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The headers (or gRPC metadata) that the config forwards to handlers."""
        return {k: v for k, v in items if k in self._forward} if self._forward else {}

    def malformed(self, kind: str, problem: str) -> None:
        """Count and log a call that could not be decoded."""
        self.stats.malformed += 1
        log.warning("malformed %s proxy call: %s", kind, problem)

    async def call(self, kind: Kind, request: Request) -> Outcome:
        """Run one call to its outcome; :class:`CallFailed` on any fault.

        A failure is logged once, with the ids that find it (kind, client, user); every
        call has an access line at debug level.
        """
        started = time.perf_counter()
        try:
            outcome = await self.handler.handle(request)
        except PayloadError as exc:
            # The handler read the client's payload and it is not what it should be
            # (`request.json()`, `payload()`, `connection_meta()`): the client's bad input,
            # so a permanent refusal, not the temporary 100 an SDK would retry forever.
            self._done(kind, request, "refused", started)
            log.info("%s call refused: bad payload: %s", kind.name, exc, extra=_ids(kind, request))
            return Error(code=ErrorCode.BAD_REQUEST, message=f"bad request: {exc}"[:_MESSAGE_LIMIT])
        except CallFailed as exc:
            self._done(kind, request, "failed", started)
            log.warning("%s call failed: %s", kind.name, exc, extra=_ids(kind, request))
            raise
        except Exception as exc:
            self._done(kind, request, "failed", started)
            log.exception("%s handler raised", kind.name, extra=_ids(kind, request))
            raise CallFailed(f"{kind.name} handler raised {type(exc).__name__}") from exc
        if isinstance(outcome, Error | Disconnect):
            self._done(kind, request, "refused", started)
        elif isinstance(outcome, kind.result):
            self._done(kind, request, "ok", started)
        else:
            self._done(kind, request, "failed", started)
            raise CallFailed(
                f"{kind.name} handler returned {type(outcome).__name__}, "
                f"expected {kind.result.__name__}, Error or Disconnect"
            )
        return outcome

    def _done(self, kind: Kind, request: Request, outcome: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self.stats.record(kind.name, outcome, seconds)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s in %.1f ms", kind.name, outcome, seconds * 1000, extra=_ids(kind, request))


def _ids(kind: Kind, request: Request) -> dict[str, str]:
    """What finds a call in the logs (never a payload, a header or a secret)."""
    return {"kind": kind.name, "client": request.client, "user": getattr(request, "user", "")}
