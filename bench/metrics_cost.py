"""The proxy's calls/s at several commits, interleaved: what a change costs on the hot path.

    git worktree add --detach /tmp/hub-old 085b2b8
    python -m bench.metrics_cost /tmp/hub-old . --runs 3

Each argument is a checkout of the hub. Its code runs on this checkout's venv (its
folder first on PYTHONPATH, checked before measuring); the application is
bench/proxy_app.py, copied aside so every checkout runs the same one. The proxy
alone, as in bench_proxy.py: a pool of 2 workers, wrk replaying one HTTP RPC proxy
request with 64 connections for a few seconds. The checkouts take turns (A, B, A,
B ...) so the load of a shared machine falls on each alike; the median is printed
with every run and the 1-minute load average at each run's start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .bench_proxy import HUB, ROOT, SECRET, check_http, free_port, wait_tcp, wrk


def hub_yaml(tmp: Path) -> tuple[Path, int]:
    port = free_port()
    config = {
        "app": "proxy_app:app",
        "log_level": "warning",
        "proxy": {
            "transport": "http",
            "http_port": port,
            "grpc_port": 0,
            "secret": SECRET,
            "call_timeout": 5,
        },
        "pool": {"workers": 2},
        "centrifugo": {"port": free_port(), "api_key": "bench-key", "token_secret": "bench-token"},
    }
    path = tmp / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, port


def environment(checkout: Path, apps: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), str(apps)])}
    command = [sys.executable, "-c", "import hub.proxy; print(hub.proxy.__file__)"]
    found = subprocess.run(command, env=env, cwd=checkout, capture_output=True, text=True, check=True).stdout
    if not Path(found.strip()).resolve().is_relative_to(checkout.resolve()):
        raise SystemExit(f"{checkout}: its hub is not the one imported ({found.strip()})")
    return env


def measure(checkout: Path, env: dict[str, str], tmp: Path) -> float:
    path, port = hub_yaml(tmp)
    with (tmp / "hub.log").open("ab") as out:
        hub = subprocess.Popen([str(HUB), "serve", "-c", str(path)], cwd=checkout, env=env, stdout=out,
                               stderr=out)  # fmt: skip
    try:
        wait_tcp(port)
        time.sleep(0.5)
        check_http(port)
        return wrk(tmp, port).rps
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(15)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost")
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        apps = tmp / "apps"
        apps.mkdir()
        shutil.copy(ROOT / "bench" / "proxy_app.py", apps / "proxy_app.py")
        envs = {c: environment(c, apps) for c in args.checkouts}
        rps: dict[Path, list[float]] = {c: [] for c in args.checkouts}
        for run in range(args.runs):
            for checkout in args.checkouts:
                load = os.getloadavg()[0]
                rps[checkout].append(measure(checkout, envs[checkout], tmp))
                figure = f"{rps[checkout][-1]:,.0f} calls/s (load {load:.1f})"
                print(f"run {run + 1} {checkout}: {figure}", flush=True)
    for checkout, values in rps.items():
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"{commit or checkout}: median {statistics.median(values):,.0f} calls/s ({runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
