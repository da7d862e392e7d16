"""The job envelope: versioned JSON that any language can write and read (docs/jobs.md).

    {"v": 1, "id": "7f3c...", "name": "reports.build", "payload": {"user": "42"},
     "headers": {}, "attempt": 0, "enqueued_at": 1767225600.0, "not_before": 0, "priority": 0}

Only ``v``, ``name`` and ``payload`` are required of a foreign producer; the rest
have defaults (a missing ``id`` is replaced by the broker's id for the entry). No pickle.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from .errors import BadEnvelope

#: The envelope version this hub writes and reads.
VERSION = 1


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """One job as it travels through a pipeline."""

    v: int = VERSION
    #: Unique per job; pushing an id twice enqueues it once (while its status is kept).
    id: str = ""
    #: The handler's name, as in ``@app.job("reports.build")``.
    name: str
    #: Any JSON value.
    payload: Any = None
    #: Free-form string metadata (trace ids, the producer's name ...).
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    #: Attempts already made (0 when pushed).
    attempt: int = 0
    #: Unix time (seconds) of the push.
    enqueued_at: float = 0.0
    #: Unix time before which the job must not run (0: at once).
    not_before: float = 0.0
    #: Higher runs first within a pipeline where the driver can order (memory); Redis is FIFO.
    priority: int = 0


def new(name: str, payload: Any, *, job_id: str | None = None, delay: float = 0.0, priority: int = 0,
        headers: dict[str, str] | None = None) -> Envelope:  # fmt: skip
    """A fresh envelope for a push."""
    now = time.time()
    return Envelope(
        id=job_id or uuid.uuid4().hex, name=name, payload=payload, headers=dict(headers or {}),
        enqueued_at=now, not_before=now + delay if delay > 0 else 0.0, priority=priority,
    )  # fmt: skip


_encoder = msgspec.json.Encoder()


def encode(envelope: Envelope) -> bytes:
    """The envelope as compact JSON."""
    return _encoder.encode(envelope)


def decode(raw: bytes | str, fallback_id: str = "") -> Envelope:
    """Read an envelope; :class:`BadEnvelope` says precisely what is wrong with it."""
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadEnvelope(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadEnvelope(f"expected a JSON object, got {type(data).__name__}")
    version = data.get("v")
    if version != VERSION:
        raise BadEnvelope(f"v: expected envelope version {VERSION}, got {version!r}")
    try:
        envelope = msgspec.convert(data, Envelope)
    except msgspec.ValidationError as exc:
        raise BadEnvelope(_where(str(exc))) from None
    if not envelope.name:
        raise BadEnvelope("name: expected a job name, got an empty string")
    if not envelope.id and fallback_id:
        envelope = msgspec.structs.replace(envelope, id=fallback_id)
    return envelope


def due_at(envelope: Envelope) -> float:
    """When the job could first run (Unix time): its ``not_before``, else its push; 0 when unknown
    (a foreign producer that wrote neither)."""
    return envelope.not_before or envelope.enqueued_at


def retried(envelope: Envelope, attempts: int, delay: float) -> Envelope:
    """The envelope of the next attempt, due after ``delay`` seconds."""
    return msgspec.structs.replace(envelope, attempt=attempts, not_before=time.time() + delay)


def _where(message: str) -> str:
    problem, _, where = message.partition(" - at `$.")
    where = where.rstrip("`")
    problem = problem[0].lower() + problem[1:]
    return f"{where}: {problem}" if where else problem
