"""The jobs benchmark's app: a no-op job, and one that records its end-to-end latency."""

from __future__ import annotations

import time

from hub import App
from hub.jobs import Job

app = App()


@app.job("bench.noop")
async def noop(job: Job) -> None:
    return None


def _write(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line)


@app.job("bench.latency")
async def latency(job: Job) -> None:
    # `sent` is the producer's clock; producer and hub share this machine's clock here.
    _write(job.payload["file"], f"{(time.time() - job.payload['sent']) * 1000:.3f}\n")
