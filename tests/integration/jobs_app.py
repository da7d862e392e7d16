"""An application with jobs for the `hub serve` jobs tests: each run appends "id attempt pid" to a file."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from hub import App
from hub.jobs import Job

app = App()


def _record(job: Job, file: str = "file") -> None:
    with open(job.payload[file], "a") as f:  # one small O_APPEND write per line: lines never mix
        f.write(f"{job.id} {job.attempt} {os.getpid()}\n")


@app.job("record")
async def record(job: Job) -> dict[str, Any]:
    if job.payload.get("started"):
        _record(job, "started")
    if job.payload.get("sleep"):
        await asyncio.sleep(job.payload["sleep"])
    if job.attempt < job.payload.get("succeed_at", 1):
        raise RuntimeError(f"not yet (attempt {job.attempt})")
    _record(job)  # after the work: a recorded job is one that ran to its end
    return {"pid": os.getpid()}


@app.job("record.sync")
def record_sync(job: Job) -> str:
    _record(job)
    return "sync"


@app.job("progress")
async def progress(job: Job) -> str:
    for step in (1, 2, 3):
        await job.publish(job.payload["channel"], {"job": job.id, "progress": step})
    return "reported"
