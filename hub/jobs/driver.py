"""The one protocol every pipeline driver implements (memory, redis, the memory broker's client).

Application code never sees a driver; it pushes through :class:`hub.jobs.Jobs`.
A consumer fetches a batch, runs each job, then settles each delivery exactly once:
:meth:`Driver.ack` (done), :meth:`Driver.retry` (failed, runs again after a delay)
or :meth:`Driver.bury` (dead-lettered). A delivery never settled (its consumer died)
is fetched again by some consumer once it has been pending ``claim_timeout`` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .envelope import Envelope
from .status import Delivery, JobStatus, PipelineStats


class Driver(Protocol):
    """One pipeline's broker side."""

    async def push(self, envelopes: Sequence[Envelope]) -> list[bool]:
        """Enqueue each envelope (delayed if ``not_before`` is in the future); False: its id exists."""
        ...

    async def fetch(self, consumer: str, count: int, block: float) -> list[Delivery]:
        """Up to ``count`` jobs for ``consumer``, waiting up to ``block`` seconds for the first.

        Due delayed jobs are moved in first, and jobs pending past the claim timeout
        are claimed (their attempt counted). Returns [] while the pipeline is paused.
        """
        ...

    async def ack(self, delivery: Delivery, result: Any) -> None:
        """The job is done: forget the delivery, keep ``result`` in its status."""
        ...

    async def retry(self, delivery: Delivery, error: str, delay: float) -> None:
        """The attempt failed: run the job again after ``delay`` seconds."""
        ...

    async def bury(self, delivery: Delivery, error: str) -> None:
        """Move the job to the dead-letter stream with ``error`` as the reason."""
        ...

    async def status(self, job_id: str) -> JobStatus | None:
        """The job's status, or None when unknown (never pushed, or expired)."""
        ...

    async def stats(self) -> PipelineStats:
        """Queued, delayed, in flight, failed and dead counts."""
        ...

    async def pause(self, paused: bool) -> None:
        """Stop (True) or resume (False) handing out jobs; pushes are still accepted."""
        ...

    async def retry_dead(self) -> int:
        """Move every dead-lettered job back to the queue (attempts reset); how many moved."""
        ...

    async def leave(self, consumer: str) -> None:
        """Forget ``consumer`` (it stopped) if it holds no unacknowledged job; else keep it claimable."""
        ...
