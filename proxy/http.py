"""What every HTTP proxy call gets: its checks, its dispatch and its status code.

:class:`ProxyCalls` answers ``POST /centrifugo/{kind}`` from the request's headers and
body, whatever server read them (:mod:`hub.proxy.protocol`); a thin adapter over
:class:`~hub.proxy.dispatch.Dispatcher`. Every malformed call gets a precise 4xx.
Metrics and readiness are on the ops listener (:mod:`hub.ops`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from hub.centrifugo import KINDS, DecodeError
from hub.centrifugo.codec import decode_json, encode_json

from .dispatch import Dispatcher
from .errors import BadRequest, CallFailed, NotJson, Overloaded, TooLarge, Unauthenticated

log = logging.getLogger(__name__)
Headers = list[tuple[bytes, bytes]]
_STATUS: dict[type[BadRequest], int] = {TooLarge: 413, NotJson: 415}


class ProxyCalls:
    """Answers ``POST /centrifugo/{kind}``."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.header = dispatcher.settings.secret_header.encode("latin-1")
        self.limit = dispatcher.settings.max_body_size

    async def answer(
        self, name: str, headers: Headers, body: bytes, too_large: str | None = None
    ) -> tuple[int, bytes]:
        """The status and JSON body of one proxy call of kind ``name`` (``headers`` with
        lower-case names); ``too_large`` says why a body over the limit was dropped."""
        d = self.dispatcher
        kind = KINDS.get(name)
        if kind is None:
            return 404, error_body(f"unknown proxy kind {name!r}; expected one of {sorted(KINDS)}")
        try:
            d.authorize([v.decode("latin-1") for k, v in headers if k == self.header])
            _check_content_type(next((v for k, v in headers if k == b"content-type"), None))
            if too_large is not None:
                raise TooLarge(too_large)
            try:
                call = decode_json(kind, body, d.forwarded(_text(headers)))
            except DecodeError as exc:
                raise BadRequest(str(exc)) from exc
        except Unauthenticated as exc:
            return 401, error_body(str(exc))
        except BadRequest as exc:
            d.malformed(name, str(exc))
            return _STATUS.get(type(exc), 400), error_body(str(exc))
        try:
            outcome = await d.call(kind, call)
            return 200, encode_json(kind, outcome, binary=call.binary)
        except Overloaded as exc:
            return 503, error_body(str(exc))
        except CallFailed as exc:
            return 500, error_body(str(exc))
        except Exception:
            # A fault of ours (a result that cannot be encoded...): answered and logged once.
            log.exception("%s call: cannot encode the reply", name)
            return 500, error_body(f"{name} reply could not be encoded")


def _check_content_type(value: bytes | None) -> None:
    # Centrifugo always sends application/json; no header at all is accepted too.
    if value is not None and value.partition(b";")[0].strip().lower() != b"application/json":
        shown = value[:100].decode("latin-1")
        raise NotJson(f"content-type: expected application/json, got {shown!r}")


def _text(headers: Headers) -> Iterator[tuple[str, str]]:
    return ((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)


def error_body(message: str) -> bytes:
    """The JSON body of a refused HTTP call: ``{"error": message}``."""
    return json.dumps({"error": message}, ensure_ascii=False, separators=(",", ":")).encode()
