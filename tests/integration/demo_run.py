"""`python -m demo` (what `make demo` runs) on free ports, for the demo's tests.

The demo's own hub.yaml, with its ports moved by `-o` overrides (as `hub serve -o`); the
demo's files (rate-limit counts, exports) in a temporary folder. Stopped as a user does:
SIGINT (Ctrl-C) to `python -m demo`, which stops the hub and everything under it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .servers import ROOT, free_port, http_ok

READY = "demo | ready: open "


@dataclass
class DemoRun:
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=free_port)
    centrifugo_port: int = field(default_factory=free_port)
    ops_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    #: The processes under `python -m demo` once it is ready (the hub, its workers, Centrifugo).
    children: list[psutil.Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}/metrics"

    @property
    def log(self) -> Path:
        return self.tmp / "demo.log"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""

    def start(self, timeout: float = 60) -> None:
        overrides = {
            "web.port": self.web_port,
            "centrifugo.port": self.centrifugo_port,
            "proxy.http_port": free_port(),
            "proxy.grpc_port": free_port(),
            "ops.port": self.ops_port,
            "centrifugo.allowed_origins": f'["http://127.0.0.1:{self.web_port}"]',
        }
        command = [sys.executable, "-m", "demo"]
        for key, value in overrides.items():
            command += ["-o", f"{key}={value}"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DEMO_DATA_DIR": str(self.tmp / "data"), **self.env}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=out, env=env)
        deadline = time.monotonic() + timeout
        while READY not in self.log_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"python -m demo did not get ready:\n{self.log_text()}")
            time.sleep(0.1)
        self.children = self.descendants()
        assert http_ok(self.url)

    def descendants(self) -> list[psutil.Process]:
        assert self.process is not None
        return psutil.Process(self.process.pid).children(recursive=True)

    def interrupt(self, signum: int = signal.SIGINT, timeout: float = 40) -> int:
        """Ctrl-C (SIGINT, or ``signum``) to `python -m demo`; its exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def leftovers(self) -> list[psutil.Process]:
        """The processes that were under `python -m demo` and still run."""
        return [p for p in self.children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def stop(self) -> None:
        """Stop whatever still runs (after a failed test): SIGINT, then SIGKILL, by pid."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for process in self.leftovers():
            with contextlib.suppress(psutil.Error):
                process.kill()
