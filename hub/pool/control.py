"""The running service's control socket: what ``hub workers`` and ``hub reset`` talk to.

A unix socket next to the config file (``.hub.yaml.sock`` beside ``hub.yaml``;
in the temp directory when that path is too long), readable only by its owner.
One typed request in, one typed reply out (:mod:`hub.pool.messages`, one JSON
line each)::

    async with ControlServer(control_path("hub.yaml"), pool):
        ...
    ask(control_path("hub.yaml"), Workers())     # Status(mode="pool", workers=[...], ...)

A malformed request gets :class:`~hub.pool.messages.Refused` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from ..errors import ControlError
from ..paths import socket_path
from .messages import (
    CONTROL_REPLY,
    CONTROL_REQUEST,
    ControlReply,
    ControlRequest,
    MessageError,
    Refused,
    ResetDone,
    Status,
    Workers,
    frame,
)

log = logging.getLogger(__name__)


class Controllable(Protocol):
    """What the control socket needs from the pool (or from the inline executor)."""

    def status(self) -> Status: ...

    async def reset(self) -> ResetDone: ...


class Inline:
    """The inline mode (``pool: workers: 0``) as seen by ``hub workers``: no workers."""

    def status(self) -> Status:
        return Status(mode="inline", size=0)

    async def reset(self) -> ResetDone:
        return ResetDone(replaced=0, note="inline mode (pool: workers: 0): no workers to replace")


def control_path(config: str | os.PathLike[str]) -> Path:
    """Where the service for ``config`` listens for control commands."""
    return socket_path(config)


class ControlServer:
    """Answers control commands for one running service."""

    def __init__(self, path: Path, target: Controllable) -> None:
        self.path = path
        self.target = target
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        if self._server is not None:
            raise ControlError("ControlServer can be opened only once")
        if self.path.exists():
            try:
                ask(self.path, Workers(), timeout=1)
            except ControlError:
                self.path.unlink()  # left behind by a service that is gone
            else:
                raise ControlError(f"another hub is already running for this config ({self.path})")
        self._server = await asyncio.start_unix_server(self._answer, path=str(self.path))
        os.chmod(self.path, 0o600)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply: ControlReply
        try:
            request = CONTROL_REQUEST.decode(await reader.readline())
            reply = self.target.status() if isinstance(request, Workers) else await self.target.reset()
        except MessageError as exc:
            log.error("control socket: %s", exc)
            reply = Refused(error=f"{exc}; expected a workers or reset request")
        except ControlError as exc:  # PoolError too: a reset that could not finish
            reply = Refused(error=str(exc))
        except Exception as exc:
            log.exception("control command failed")
            reply = Refused(error=f"{type(exc).__name__}: {exc}")
        try:
            writer.write(frame(reply))
            await writer.drain()
        except ConnectionError:
            pass  # the asker went away
        finally:
            writer.close()


def ask(path: Path, request: ControlRequest, timeout: float = 120.0) -> Status | ResetDone:
    """Send one request to a running service and return its reply (blocking).

    :class:`ControlError` when the service cannot be reached or refuses.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(frame(request))
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise ControlError(
            f"cannot reach the running hub at {path} ({exc}); is `hub serve` running?"
        ) from exc
    try:
        reply = CONTROL_REPLY.decode(data)
    except MessageError as exc:
        raise ControlError(f"the running hub at {path} answered badly: {exc}") from exc
    if isinstance(reply, Refused):
        raise ControlError(f"the running hub refused: {reply.error}")
    return reply


def table(status: Status) -> str:
    """``hub workers`` output: one row per worker, then why workers were replaced."""
    if status.mode == "inline":
        return "inline mode (pool: workers: 0): handlers run in the service process"
    rows = [("PID", "STATE", "CALLS", "RUNNING", "WAITING", "MEMORY", "AGE")]
    for w in status.workers:
        rows.append((str(w.pid), w.state, str(w.served), str(w.running), str(w.waiting),
                     f"{w.rss / 2**20:.1f} MiB", f"{w.age:.1f}s"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(n) for c, n in zip(r, widths, strict=True)).rstrip() for r in rows]
    replaced = ", ".join(f"{k} {v}" for k, v in sorted(status.replaced.items())) or "none"
    lines.append(f"{len(status.workers)} of {status.size} workers; replaced since start: {replaced}")
    return "\n".join(lines)
