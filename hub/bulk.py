"""``hub publish``: one value from the command line, or JSON lines from stdin.

    echo '{"text": "hi"}' | hub publish -c hub.yaml chat:lobby
    hub publish -c hub.yaml chat:lobby '{"text": "hi"}'

Bulk publishes run concurrently (so they share batch requests), at most
``IN_FLIGHT`` at a time. A line that is not JSON is reported with its number
and not published; the exit status is 1 if any line failed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import IO, Any

from hub.clients import Publisher, PublisherError

from .errors import HubError

IN_FLIGHT = 1000
#: A progress line goes to stderr every this many input lines.
PROGRESS_EVERY = 10_000


def parse_line(number: int, line: bytes) -> Any:
    """The JSON value of one input line; ValueError naming the line when it is not JSON."""
    try:
        return json.loads(line)
    except ValueError as exc:
        raise ValueError(f"line {number}: not valid JSON: {exc}") from None


async def publish_one(publisher: Publisher, channel: str, text: str) -> int:
    """Publish one JSON value given as text; print the result as JSON."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise HubError(f"JSON: not valid JSON: {exc}") from None
    async with publisher:
        try:
            result = await publisher.publish(channel, data)
        except PublisherError as exc:
            print(f"hub: publish to {channel} failed: {exc}", file=sys.stderr)
            return 1
    print(json.dumps({"channel": channel, "offset": result.offset, "epoch": result.epoch}))
    return 0


async def publish_lines(publisher: Publisher, channel: str, source: IO[bytes]) -> int:
    """Publish every non-empty line of ``source``; a summary goes to stderr."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    counts = {"ok": 0, "failed": 0}

    async def one(number: int, data: Any) -> None:
        try:
            await publisher.publish(channel, data)
            counts["ok"] += 1
        except PublisherError as exc:
            counts["failed"] += 1
            print(f"line {number}: publish failed: {exc}", file=sys.stderr)
        finally:
            slots.release()

    async with publisher, asyncio.TaskGroup() as group:
        number = 0
        while line := await asyncio.to_thread(source.readline):
            number += 1
            if not line.strip():
                continue
            try:
                data = parse_line(number, line)
            except ValueError as exc:
                counts["failed"] += 1
                print(str(exc), file=sys.stderr)
                continue
            await slots.acquire()
            group.create_task(one(number, data))
            if number % PROGRESS_EVERY == 0:
                print(
                    f"... line {number}: {counts['ok']} published, {counts['failed']} failed", file=sys.stderr
                )
    total = counts["ok"] + counts["failed"]
    print(f"published {counts['ok']} of {total} to {channel} ({counts['failed']} failed)", file=sys.stderr)
    return 1 if counts["failed"] else 0
