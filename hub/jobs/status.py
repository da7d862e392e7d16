"""What a driver hands to a consumer, and what it keeps about each job."""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from .envelope import Envelope


class State(enum.StrEnum):
    """A job's state. queued|delayed → running → done | (failed → delayed → running …) | dead.

    ``failed`` is the state between a failed attempt and its retry (while the backoff
    runs it reads ``delayed`` with ``error`` set); ``dead`` is final until ``retry-dead``.
    """

    QUEUED = "queued"
    DELAYED = "delayed"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"


class JobStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A job's status, readable by id for ``status_ttl`` seconds after its last change."""

    id: str
    state: State
    pipeline: str = ""
    name: str = ""
    #: Attempts started so far.
    attempts: int = 0
    #: The last attempt's error (``Type: message``), or "".
    error: str = ""
    #: The handler's return value (JSON), when it was small enough to keep.
    result: Any = None
    #: Unix time of the last change.
    updated_at: float = 0.0


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One job fetched by one consumer: run it, then ack, retry or bury it."""

    pipeline: str
    #: The driver's handle on this delivery (a stream entry id, a memory sequence number).
    token: str
    #: The raw envelope (kept for the dead-letter stream when it cannot be decoded).
    raw: str
    envelope: Envelope | None = None
    #: Why the envelope cannot be run (not JSON, wrong version ...); set means bury it.
    problem: str = ""
    #: This run's attempt number (1-based), counting runs lost with a vanished consumer.
    attempt: int = 1
    #: The last error recorded for this job (for the dead-letter reason of a job past its attempts).
    last_error: str = ""


class PipelineStats(msgspec.Struct, frozen=True, kw_only=True):
    """What ``hub jobs stats`` shows for one pipeline."""

    pipeline: str
    driver: str
    queued: int = 0
    delayed: int = 0
    in_flight: int = 0
    failed: int = 0
    dead: int = 0
    paused: bool = False
