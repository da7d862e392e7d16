"""The hub publisher of one source tree, timed in a process of its own.

bench_publish's side-by-side rows run one of these with an earlier revision's tree
("before") and one with this tree ("now"), so both publishers run in the same kind of
process. Run from the tree with it on the path, so ``hub`` is its code::

    PYTHONPATH=TREE python bench/_apart_publisher.py HUB_YAML PAYLOAD_JSON

It opens a publisher over HTTP and one over gRPC, prints "ready", then reads lines
``CHANNEL COUNT WAY`` and publishes COUNT copies of the payload to CHANNEL: WAY ``many``
with one ``publish_many``, ``many-no-keys`` the same with ``idempotent=False``,
``many-grpc`` the same over gRPC, ``gather`` as ``asyncio.gather`` of one ``publish``
each. It prints the seconds that took, wall and CPU. Its loop runs as a hub worker's does
(``run_listeners``), as the in-process variants' does.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence

from msgspec.structs import replace

from hub.proxy import run_listeners
from hub.publishing import publisher_for
from hub.settings import load


async def main(config: str, payload: object) -> None:
    loop = asyncio.get_running_loop()
    settings = load(config)
    over_grpc = replace(settings, publisher=replace(settings.publisher, transport="grpc"))
    async with publisher_for(settings) as publisher, publisher_for(over_grpc) as grpc_publisher:
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            channel, count, way = line.split()
            items = [(channel, payload)] * int(count)
            wall, cpu = time.perf_counter(), time.process_time()
            results: Sequence[object]
            if way == "gather":
                results = await asyncio.gather(
                    *(publisher.publish(c, p) for c, p in items), return_exceptions=True
                )
            elif way == "many-grpc":
                results = await grpc_publisher.publish_many(items)
            else:
                results = await publisher.publish_many(items, idempotent=way == "many")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            failed = sum(isinstance(r, BaseException) for r in results)
            print(f"failed {failed}" if failed else f"{wall} {cpu}", flush=True)


if __name__ == "__main__":
    run_listeners(main(sys.argv[1], json.loads(sys.argv[2])))
