"""`make demo`: run Centrifugo and the hub with the demo app, show a short tour, keep serving.

Ctrl-C stops everything (the hub stops Centrifugo, then itself, in order).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from demo.tour import URL, tour

CONFIG = Path(__file__).resolve().parent / "hub.yaml"


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> int:
    hub = Path(sys.executable).parent / "hub"
    process = subprocess.Popen([str(hub), "serve", "--centrifugo", "-c", str(CONFIG)])
    try:
        deadline = time.monotonic() + 30
        while not healthy("http://127.0.0.1:8000/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                print("demo: the hub did not start (see its log above)", file=sys.stderr)
                return 1
            time.sleep(0.1)
        asyncio.run(tour(URL))
        print(
            "\n  demo | running: connect a client to ws://127.0.0.1:8000/connection/websocket"
            '\n  demo | with connect data {"user": "NAME"}; metrics at http://127.0.0.1:9002/metrics'
            "\n  demo | run the tour again: .venv/bin/python -m demo.tour     stop: Ctrl-C\n",
            flush=True,
        )
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


if __name__ == "__main__":
    sys.exit(main())
