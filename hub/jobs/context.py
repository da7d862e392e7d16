"""What a job handler receives: the job, and a way to tell its user how it goes.

@app.job("reports.build")
async def build(job: Job) -> dict:
    for step in range(10):
        await job.publish(f"reports:{job.payload['user']}", {"progress": step * 10})
    return {"url": "/reports/42.pdf"}          # kept in the job's status (small JSON)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.clients import Published

    from ..app import App


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One run of a job."""

    id: str
    name: str
    payload: Any
    #: This run's attempt, 1-based (retries and runs lost with a killed worker count).
    attempt: int
    pipeline: str
    headers: dict[str, str] = field(default_factory=dict)
    app: App

    async def publish(self, channel: str, data: Any) -> Published:
        """Publish to ``channel`` through the app's publisher (progress for a user, say)."""
        return await self.app.publish(channel, data)

    def publish_sync(self, channel: str, data: Any) -> Published:
        """:meth:`publish` for a sync handler (it runs in a thread)."""
        return self.app.publish_sync(channel, data)
