"""A stand-in front process that publishes on behalf of workers (for bench_publish).

It reads JSON lines ``{"id", "channel", "data"}`` from a unix socket, publishes each
with its own hub publisher, and answers ``{"id", "ok"}`` or ``{"id", "error"}``: the
relay a pooled worker would use if publishes went through the supervisor.
Run: ``python -m bench._relay HUB_YAML SOCKET``; it prints "ready" once listening.
"""

from __future__ import annotations

import asyncio
import json
import sys

from hub.publishing import publisher_for
from hub.settings import load


async def main(config: str, path: str) -> None:
    async with publisher_for(load(config)) as publisher:

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async def one(line: bytes) -> None:
                command = json.loads(line)
                try:
                    await publisher.publish(command["channel"], command["data"])
                    reply = {"id": command["id"], "ok": True}
                except Exception as exc:
                    reply = {"id": command["id"], "error": str(exc)}
                writer.write(json.dumps(reply).encode() + b"\n")

            async with asyncio.TaskGroup() as tasks:
                while line := await reader.readline():
                    tasks.create_task(one(line))
            writer.close()

        server = await asyncio.start_unix_server(serve, path, limit=1 << 20)
        print("ready", flush=True)
        async with server:
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
