"""The pool's typed wire: supervisor ↔ worker, and the control socket.

Every message is a frozen msgspec Struct tagged by its type (``{"t": "beat", ...}``),
one JSON document per line on a stream socket; :func:`frame` writes one and a
:class:`Decoder` reads one, raising :class:`MessageError` (naming the problem)
for anything else::

    writer.write(frame(Beat(served=3, running=1, waiting=0, oldest=12.5, idle_since=10.0)))
    message = FROM_WORKER.decode(line)         # Ready | Beat | Leaving, or MessageError

The channels and who speaks on them:

- worker start (the worker's stdin, once): :class:`Start`, the settings the
  supervisor validated and runs with, so a worker never reads hub.yaml itself;
- supervisor → worker (control socketpair): :class:`Drain`;
- worker → supervisor: :class:`Ready`, then :class:`Beat` every 0.1 s, :class:`Leaving`;
- ``hub workers`` / ``hub reset`` → service (unix socket): :class:`Workers`, :class:`Reset`;
- service → ``hub workers`` / ``hub reset``: :class:`Status`, :class:`ResetDone`, :class:`Refused`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec

from hub.proxy.stats import CallStats

from ..metrics import Family

if TYPE_CHECKING:  # hub.settings loads yaml: `hub workers` must not pay for it
    from ..settings import Settings


class MessageError(ValueError):
    """A line that is not one of the channel's messages; the text says what is wrong."""


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="t"):
    """Base of every message on the pool's channels."""


# -- worker start (stdin) -------------------------------------------------------


class Start(Message, frozen=True, kw_only=True, tag="start"):
    """What a new worker runs with: the supervisor's settings and its own call limit."""

    #: The supervisor's :class:`hub.settings.Settings`, encoded (see :meth:`of`).
    settings: msgspec.Raw
    #: Calls before the worker recycles itself (jittered per worker; 0: no limit).
    max_calls: int = 0

    @classmethod
    def of(cls, settings: Settings, max_calls: int) -> Start:
        return cls(settings=msgspec.Raw(_ENCODER.encode(settings)), max_calls=max_calls)

    def decode_settings(self) -> Settings:
        """The settings, validated again as they are decoded."""
        from ..settings import Settings

        return msgspec.json.decode(self.settings, type=Settings)


# -- supervisor → worker ----------------------------------------------------------


class Drain(Message, frozen=True, kw_only=True, tag="drain"):
    """Stop taking calls, finish the running ones, then exit."""

    reason: str


# -- worker → supervisor ----------------------------------------------------------


class Ready(Message, frozen=True, kw_only=True, tag="ready"):
    """The worker imported the app and listens."""


class Beat(Message, frozen=True, kw_only=True, tag="beat"):
    """A heartbeat with the worker's counters (times are the worker's ``time.monotonic()``)."""

    served: int
    running: int
    waiting: int
    #: Start of the oldest running call, or None when idle.
    oldest: float | None
    idle_since: float
    #: The worker's cumulative call counts (the pool's /metrics sums them).
    stats: CallStats | None = None
    #: The app's metrics and the worker's own (jobs settled, publisher requests), cumulative.
    metrics: list[Family] | None = None


class Leaving(Message, frozen=True, kw_only=True, tag="leaving"):
    """The worker stopped taking calls (a limit, a drain, the supervisor gone) and will exit."""

    reason: str


# -- control socket ---------------------------------------------------------------


class Workers(Message, frozen=True, kw_only=True, tag="workers"):
    """Ask for the pool's status (``hub workers``)."""


class Reset(Message, frozen=True, kw_only=True, tag="reset"):
    """Ask for a rolling reset (``hub reset``)."""


class WorkerRow(msgspec.Struct, frozen=True, kw_only=True):
    """One worker as ``hub workers`` shows it."""

    pid: int
    state: str
    served: int
    running: int
    waiting: int
    rss: int
    age: float


class Status(Message, frozen=True, kw_only=True, tag="status"):
    """The pool (or the inline mode) as ``hub workers`` shows it."""

    mode: str
    size: int
    uptime: float = 0.0
    #: Why workers were replaced since the start (crash, exec_timeout, max_calls, ...).
    replaced: dict[str, int] = {}
    workers: list[WorkerRow] = []


class ResetDone(Message, frozen=True, kw_only=True, tag="reset_done"):
    """A finished reset: how many workers were replaced, and anything the operator should know."""

    replaced: int
    note: str = ""


class Refused(Message, frozen=True, kw_only=True, tag="refused"):
    """The service could not do what was asked; ``error`` says why."""

    error: str


ToWorker = Drain
FromWorker = Ready | Beat | Leaving
ControlRequest = Workers | Reset
ControlReply = Status | ResetDone | Refused

M = TypeVar("M")
_ENCODER = msgspec.json.Encoder()


def frame(message: Message) -> bytes:
    """One message as one line."""
    return _ENCODER.encode(message) + b"\n"


class Decoder(Generic[M]):
    """Reads the messages of one channel (a union of tagged structs)."""

    def __init__(self, channel: str, message_type: type[M]) -> None:
        self.channel = channel
        self._decoder = msgspec.json.Decoder(message_type)

    def decode(self, line: bytes) -> M:
        """The message on this line; :class:`MessageError` naming the problem otherwise."""
        try:
            return self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            shown = line[:120] + (b"..." if len(line) > 120 else b"")
            raise MessageError(f"malformed {self.channel} message {shown!r}: {exc}") from None


START: Decoder[Start] = Decoder("start", Start)
TO_WORKER: Decoder[ToWorker] = Decoder("supervisor", ToWorker)
FROM_WORKER: Decoder[FromWorker] = Decoder("worker", FromWorker)  # type: ignore[arg-type]
CONTROL_REQUEST: Decoder[ControlRequest] = Decoder("control request", ControlRequest)  # type: ignore[arg-type]
CONTROL_REPLY: Decoder[ControlReply] = Decoder("control reply", ControlReply)  # type: ignore[arg-type]
