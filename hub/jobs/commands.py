"""``hub jobs push|stats|status|pause|resume|retry-dead``: the pipelines from the command line.

Redis pipelines are reached directly; memory pipelines through the running
service's socket next to the config file (they live in ``hub serve``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

import msgspec

from .broker_socket import broker_path
from .errors import BrokerError, JobsError
from .pipelines import Jobs
from .status import PipelineStats

if TYPE_CHECKING:
    from ..settings import Settings


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the ``hub jobs`` verb ``args.jobs_verb``; ``args.config`` names the config file."""
    verb = args.jobs_verb
    async with Jobs(settings.jobs, socket=broker_path(args.config)) as jobs:
        if verb == "push":
            try:
                payload = json.loads(args.json)
            except ValueError as exc:
                raise JobsError(f"JSON: not valid JSON: {exc}") from None
            options = {"pipeline": args.pipeline, "delay": args.delay, "job_id": args.id}
            print(await jobs.push(args.name, payload, **options))
        elif verb == "stats":
            rows = [await pipeline_stats(jobs, name) for name in jobs.drivers]
            print(json.dumps(msgspec.to_builtins(rows)) if args.json else table(rows))
        elif verb == "status":
            found = await jobs.status(args.id)
            if found is None:
                print(f"hub: no job {args.id!r} (never pushed, or its status expired)", file=sys.stderr)
                return 1
            print(json.dumps(msgspec.to_builtins(found)))
        elif verb in ("pause", "resume"):
            await jobs.pause(args.pipeline, verb == "pause")
            print(f"{args.pipeline}: {verb}d")
        else:
            print(f"{args.pipeline}: {await jobs.retry_dead(args.pipeline)} dead jobs back in the queue")
    return 0


async def pipeline_stats(jobs: Jobs, name: str) -> PipelineStats | str:
    """One pipeline's counts, or a line saying why they could not be read."""
    try:
        return await jobs.drivers[name].stats()
    except BrokerError as exc:
        return f"{name}: {exc}"


def table(rows: list[PipelineStats | str]) -> str:
    """``hub jobs stats`` output: one row per pipeline."""
    out = [("PIPELINE", "DRIVER", "QUEUED", "DELAYED", "IN FLIGHT", "FAILED", "DEAD", "")]
    notes = []
    for r in rows:
        if isinstance(r, str):
            notes.append(r)
            continue
        out.append((r.pipeline, r.driver, str(r.queued), str(r.delayed), str(r.in_flight), str(r.failed),
                    str(r.dead), "paused" if r.paused else ""))  # fmt: skip
    widths = [max(len(r[i]) for r in out) for i in range(len(out[0]))]
    lines = ["  ".join(c.ljust(n) for c, n in zip(r, widths, strict=True)).rstrip() for r in out]
    return "\n".join(lines + notes)
