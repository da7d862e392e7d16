"""`make demo`: Centrifugo, the hub and the demo's web side, then one URL to open.

    .venv/bin/python -m demo [-o KEY=VALUE ...]     # -o: as `hub serve -o` (e.g. web.port=8081)

Runs ``hub serve --centrifugo -c demo/hub.yaml`` (memory engine, memory jobs pipeline:
no Redis), waits until the page and Centrifugo answer, and prints the page's URL.
Ctrl-C (or SIGTERM) stops everything: the hub gets one SIGTERM and stops Centrifugo, its workers and
itself, in order; the exit code is then the hub's (0 when it stopped cleanly).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from hub.errors import HubError
from hub.settings import load

CONFIG = Path(__file__).resolve().parent / "hub.yaml"
START_TIMEOUT = 60


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. web.port=8081), got {text!r}")
    return key, yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("-o", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        settings = load(CONFIG, overrides=dict(override(text) for text in args.overrides))
    except (argparse.ArgumentTypeError, yaml.YAMLError, HubError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    page = f"http://{settings.web.host}:{settings.web.port}/"
    centrifugo = f"http://127.0.0.1:{settings.centrifugo.port}/health"
    # Ctrl-C and SIGTERM both mean "stop everything", even where a launcher left SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    hub = Path(sys.executable).parent / "hub"
    command = [str(hub), "serve", "--centrifugo", "-c", str(CONFIG)]
    for text in args.overrides:
        command += ["-o", text]
    # Its own session: a terminal's Ctrl-C reaches only this process, which then stops the
    # hub with exactly one signal (a second one would make the hub skip its orderly stop).
    process = subprocess.Popen(command, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (answers(page) and answers(centrifugo)):
            if process.poll() is not None or time.monotonic() > deadline:
                print("demo: the hub did not start (see its log above)", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"\n  demo | ready: open {page}   (Ctrl-C stops everything)\n", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return stop(process)
    finally:
        if process.poll() is None:
            stop(process)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop(process: subprocess.Popen[bytes]) -> int:
    """One SIGTERM (the hub's orderly stop), SIGKILL if it hangs; the hub's exit code."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return 1


if __name__ == "__main__":
    sys.exit(main())
