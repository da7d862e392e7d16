"""Real servers for integration tests: Redis, Centrifugo and `hub serve`, on free ports.

Every process is started by the test run and stopped by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub.testing import free_port
from hub.testing.server import http_ok
from hub.testing.server import stop_process as stop

__all__ = ["ROOT", "Stack", "free_port", "http_ok", "redis_server", "stack_config", "stop", "wait_until"]

ROOT = Path(__file__).resolve().parents[2]
HUB = Path(sys.executable).parent / "hub"


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {timeout}s")


@contextlib.contextmanager
def redis_server(tmp: Path, port: int | None = None) -> Iterator[str]:
    """A private redis-server on ``port`` (a free one by default), stopped by pid on the way out."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: `make test` installs it (apt-get install redis-server)")
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def ready() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
            return False

        wait_until(ready, 10, "redis-server")
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(process)


@dataclass
class Stack:
    """A hub.yaml, a running `hub serve` and a running Centrifugo built from it."""

    tmp: Path
    config: dict[str, Any]
    #: Environment variables for the processes the stack starts (over the test run's own).
    env: dict[str, str] = field(default_factory=dict)
    hub: subprocess.Popen[bytes] | None = None
    centrifugo: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.tmp / "hub.yaml"

    @property
    def ws_url(self) -> str:
        c = self.config["centrifugo"]
        return f"ws://127.0.0.1:{c['port']}/connection/websocket"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.config['centrifugo']['port']}/api"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.config['proxy']['http_port']}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.config['proxy']['grpc_port']}"

    def write(self) -> None:
        self.path.write_text(yaml.safe_dump(self.config))

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        command = [str(HUB), *args, "-c", str(self.path)]
        with log.open("ab") as out:
            return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=out, env=env)

    def start_hub(self) -> None:
        self.hub = self._spawn("hub", "serve")
        wait_until(
            lambda: http_ok(self.proxy_url + "/health") or self.hub.poll() is not None, 20, "hub serve"
        )
        if self.hub.poll() is not None:
            raise RuntimeError(f"hub serve exited at start:\n{self.log_text()}")

    @contextlib.contextmanager
    def serving_with_centrifugo(self) -> Iterator[Stack]:
        """`hub serve --centrifugo` (the hub runs Centrifugo as its child), stopped on the way out;
        the logs are printed when starting or the block fails."""
        self.write()
        self.hub = self._spawn("hub", "serve", "--centrifugo")
        try:
            wait_until(lambda: "hub ready" in self.log_text() or self.hub.poll() is not None, 30, "hub ready")
            if self.hub.poll() is not None:
                raise RuntimeError(f"hub serve --centrifugo exited at start:\n{self.log_text()}")
            yield self
        except BaseException:
            print(self.log_text())
            raise
        finally:
            self.stop_all()

    def start_centrifugo(self) -> None:
        self.centrifugo = self._spawn("centrifugo", "centrifugo", "run")
        url = self.api_url.removesuffix("/api") + "/health"
        wait_until(lambda: http_ok(url) or self.centrifugo.poll() is not None, 20, "centrifugo")
        if self.centrifugo.poll() is not None:
            raise RuntimeError(f"centrifugo exited at start:\n{self.log_text()}")

    def stop_centrifugo(self, *, kill: bool = False) -> None:
        """Stop Centrifugo by pid: SIGTERM (graceful) or SIGKILL (a crash)."""
        if self.centrifugo is None:
            return
        if kill:
            self.centrifugo.kill()
            self.centrifugo.wait()
        else:
            stop(self.centrifugo)

    def stop_all(self) -> None:
        for process in (self.centrifugo, self.hub):
            if process is not None:
                stop(process)

    @contextlib.contextmanager
    def running(self, *, hub: bool = True, centrifugo: bool = True) -> Iterator[Stack]:
        """Write hub.yaml, start the chosen processes, and stop them all on the way out;
        the processes' logs are printed when starting or the block fails."""
        self.write()
        try:
            if hub:
                self.start_hub()
            if centrifugo:
                self.start_centrifugo()
            yield self
        except BaseException:
            print(self.log_text())
            raise
        finally:
            self.stop_all()

    def log_text(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.logs if p.exists()
        )


def stack_config(app: str, transport: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """A hub.yaml for tests: free ports, test secrets, ``sections`` merged over the defaults."""
    config: dict[str, Any] = {
        "app": app,
        "log_level": "info",
        "proxy": {
            "transport": transport,
            "http_port": free_port(),
            "grpc_port": free_port(),
            "secret": "test-proxy-secret",
            "call_timeout": 3,
        },
        "centrifugo": {
            "port": free_port(),
            "api_key": "test-api-key",
            "token_secret": "test-token-secret-of-32-bytes-or-more",
            "log_level": "info",
        },
    }
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(config.get(name), dict):
            config[name].update(values)
        else:
            config[name] = values
    return config
