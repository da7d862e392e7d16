"""``hub publish``: one value from the command line, or JSON lines from stdin.

    echo '{"text": "hi"}' | hub publish -c hub.yaml chat:lobby
    hub publish -c hub.yaml chat:lobby '{"text": "hi"}'

Bulk lines go ``CHUNK`` at a time through :meth:`Publisher.publish_many` (one
awaitable per chunk, its publications shared out over batch requests), and the
next chunk is read while one is being published. A line that is not JSON, or
whose publication fails, is reported with its number; the exit status is 1 if
any line failed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from typing import IO, Any

from hub.clients import Publisher, PublisherError

from .errors import HubError

#: Lines published with one publish_many (and read ahead while the previous chunk is sent).
CHUNK = 1000
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
    counts = {"ok": 0, "failed": 0}

    async def send(chunk: list[tuple[int, Any]]) -> None:
        try:
            results: list[Any] = await publisher.publish_many([(channel, data) for _, data in chunk])
        except PublisherError as exc:  # the whole chunk was refused (closing, overloaded)
            results = [exc] * len(chunk)
        for (number, _), result in zip(chunk, results, strict=True):
            if isinstance(result, PublisherError):
                counts["failed"] += 1
                print(f"line {number}: publish failed: {result}", file=sys.stderr)
            else:
                counts["ok"] += 1

    async with publisher:
        number = 0
        sending: asyncio.Task[None] | None = None
        while lines := await asyncio.to_thread(_read, source, CHUNK):
            chunk: list[tuple[int, Any]] = []
            for line in lines:
                number += 1
                if not line.strip():
                    continue
                try:
                    chunk.append((number, parse_line(number, line)))
                except ValueError as exc:
                    counts["failed"] += 1
                    print(str(exc), file=sys.stderr)
            if sending is not None:
                await sending
            sending = asyncio.create_task(send(chunk))
            if number // PROGRESS_EVERY != (number - len(lines)) // PROGRESS_EVERY:
                print(
                    f"... line {number}: {counts['ok']} published, {counts['failed']} failed", file=sys.stderr
                )
        if sending is not None:
            await sending
    total = counts["ok"] + counts["failed"]
    print(f"published {counts['ok']} of {total} to {channel} ({counts['failed']} failed)", file=sys.stderr)
    return 1 if counts["failed"] else 0


def _read(source: IO[bytes], count: int) -> list[bytes]:
    """The next ``count`` lines (fewer at the end)."""
    return list(itertools.islice(source, count))
