"""A real Centrifugo and the user's app from their hub.yaml, on free ports, with faults on demand.

    with HubServer("hub.yaml", tmp_path) as server:
        async with server.client() as alice:
            await alice.connect_as("alice")
        server.kill_worker()                  # the pool replaces it
        server.restart_centrifugo()
        with server.slow("rpc:chat.send", 2.0):
            ...

The user's file is copied with fresh free ports (and absolute paths) into a
temporary folder; ``hub serve`` and ``hub centrifugo run`` run as child processes
and are stopped by pid. Their logs are in ``server.logs`` and printed when a start fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from hub.errors import HubError
from hub.pool.control import ask, control_path
from hub.pool.messages import Status, Workers
from hub.publishing import api_url, websocket_url
from hub.settings import Settings, load
from hub.tokens import TokenMinter

from ._faults import APP_VARIABLE, FAULTS_VARIABLE
from .client import TestClient

#: How long a process may take to answer its health check.
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubServer:
    """``hub serve`` and Centrifugo for one hub.yaml, for the length of a ``with`` block."""

    def __init__(self, config: str | os.PathLike[str], tmp: str | os.PathLike[str], *,
                 workers: int | None = None, overrides: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        """``overrides``: dotted keys over the file, as ``hub serve -o`` (``{"proxy.transport": "grpc"}``)."""
        self.overrides = dict(overrides or {})
        self.source = Path(config).resolve()
        self.tmp = Path(tmp)
        self.path = self.tmp / "hub.yaml"
        self.faults = self.tmp / "faults.json"
        self.workers = workers
        self.logs: list[Path] = []
        self.hub: subprocess.Popen[bytes] | None = None
        self.centrifugo: subprocess.Popen[bytes] | None = None
        self._settings: Settings | None = None
        self._app = ""

    # -- lifecycle ------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._settings is not None:
            raise HubError("HubServer can be started only once")
        self._settings = self._write()
        try:
            self.start_hub()
            self.start_centrifugo()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop Centrifugo, then the hub (SIGTERM, SIGKILL if they linger)."""
        for process in (self.centrifugo, self.hub):
            if process is not None:
                stop_process(process)

    @property
    def settings(self) -> Settings:
        """The settings in effect (the user's, with this server's ports)."""
        if self._settings is None:
            raise HubError("HubServer is not started (use `with`)")
        return self._settings

    @property
    def ws_url(self) -> str:
        """Where clients connect."""
        return websocket_url(self.settings)

    @property
    def web_url(self) -> str:
        """Where browsers load the app's own web side (hub.yaml ``web:``), on this server's port."""
        web = self.settings.web
        if not web.port:
            raise HubError("the config has no web listener (hub.yaml web: port)")
        return f"http://{web.host}:{web.port}"

    def client(self, *, timeout: float = 5.0) -> TestClient:
        """A (not yet opened) test client: ``async with server.client() as c:``."""
        return TestClient(self.ws_url, TokenMinter.from_settings(self.settings.centrifugo), timeout=timeout)

    def _write(self) -> Settings:
        data = yaml.safe_load(self.source.read_text())
        # The user's own mistakes are reported against their own file.
        original = load(self.source, overrides=self.overrides)
        for dotted, value in self.overrides.items():
            *parents, key = dotted.split(".")
            section = data
            for part in parents:
                section = section.setdefault(part, {})
            section[key] = value
        self._app = original.app
        data["app"] = "hub.testing._faults:app"
        data["app_dir"] = original.app_dir
        proxy, centrifugo = data.setdefault("proxy", {}), data.setdefault("centrifugo", {})
        proxy["http_port"] = free_port()
        proxy["grpc_port"] = free_port() if original.proxy.grpc_port else 0
        centrifugo["port"] = free_port()
        if original.centrifugo.grpc_api_port:
            centrifugo["grpc_api_port"] = free_port()
        if original.centrifugo.token_private_key:
            centrifugo["token_private_key"] = original.centrifugo.token_private_key
        if original.web.port:
            web = data["web"]["port"] = free_port()
            if original.centrifugo.allowed_origins:  # the page moves with the port: it may connect from there
                moved = [f"http://{host}:{web}" for host in ("127.0.0.1", "localhost")]
                centrifugo["allowed_origins"] = [*original.centrifugo.allowed_origins, *moved]
        if original.ops.port:
            data["ops"]["port"] = free_port()
        if self.workers is not None:
            data.setdefault("pool", {})["workers"] = self.workers
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.path.write_text(yaml.safe_dump(data))
        return load(self.path)

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            APP_VARIABLE: self._app,
            FAULTS_VARIABLE: str(self.faults),
        }
        command = [sys.executable, "-m", "hub", *args, "-c", str(self.path)]
        with log.open("ab") as out:
            return subprocess.Popen(command, cwd=self.source.parent, stdout=out, stderr=out, env=env)

    def _wait(self, process: subprocess.Popen[bytes], url: str, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not http_ok(url):
            if process.poll() is not None:
                raise HubError(f"{what} exited at start:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise HubError(f"{what} not ready within {START_TIMEOUT}s:\n{self.log_text()}")
            time.sleep(0.05)

    def start_hub(self) -> None:
        """Start ``hub serve`` and wait until it answers."""
        p = self.settings.proxy
        self.hub = self._spawn("hub", "serve")
        self._wait(self.hub, f"http://127.0.0.1:{p.http_port}/health", "hub serve")

    def start_centrifugo(self) -> None:
        """Start Centrifugo (again) and wait until it answers."""
        self.centrifugo = self._spawn("centrifugo", "centrifugo", "run")
        self._wait(self.centrifugo, api_url(self.settings).removesuffix("/api") + "/health", "centrifugo")

    # -- faults ---------------------------------------------------------------

    def stop_centrifugo(self, *, kill: bool = False) -> None:
        """Stop Centrifugo: gracefully, or ``kill=True`` as a crash (SIGKILL)."""
        if self.centrifugo is not None:
            if kill:
                self.centrifugo.kill()
                self.centrifugo.wait()
            else:
                stop_process(self.centrifugo)

    def restart_centrifugo(self, *, kill: bool = False) -> None:
        """Stop Centrifugo and start it again on the same port (clients reconnect)."""
        self.stop_centrifugo(kill=kill)
        self.start_centrifugo()

    def worker_pids(self) -> list[int]:
        """The pids of the pool's serving workers."""
        status = ask(control_path(self.path), Workers(), timeout=10)
        rows = status.workers if isinstance(status, Status) else []
        return [row.pid for row in rows if row.state in ("ready", "working")]

    def kill_worker(self, pid: int | None = None) -> int:
        """SIGKILL one worker (the first, or ``pid``), as a crash; the pool replaces it."""
        pids = self.worker_pids()
        if not pids:
            raise HubError("no pooled worker to kill (pool.workers: 0 runs handlers inline)")
        victim = pid if pid is not None else pids[0]
        os.kill(victim, signal.SIGKILL)
        return victim

    def wait_for_workers(self, count: int, *, timeout: float = START_TIMEOUT, without: int = 0) -> list[int]:
        """Until ``count`` workers serve (none of them ``without``); their pids."""
        pids: list[int] = _until(
            lambda: (p := self.worker_pids()) and len(p) >= count and without not in p and p, timeout
        )
        return pids

    @contextlib.contextmanager
    def slow(self, key: str, seconds: float) -> Iterator[None]:
        """Delay calls by ``seconds`` for the block: ``rpc:chat.send``, ``subscribe:chat:lobby``,
        ``connect``, or a whole kind (``rpc``)."""
        faults: dict[str, Any] = {"slow": {key: seconds}}
        self.faults.write_text(json.dumps(faults))
        try:
            yield
        finally:
            self.faults.unlink(missing_ok=True)

    def log_text(self) -> str:
        """The tail of every process's log."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.logs if p.exists()
        )


def _until(probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(HubError, OSError):
            value = probe()
            if value:
                return value
        time.sleep(0.05)
    raise HubError(f"not so within {timeout}s")


def http_ok(url: str) -> bool:
    """True when ``url`` answers 200 (not up yet, or another program on the port: False)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except (OSError, http.client.HTTPException):  # not up yet, or another program's port on a shared machine
        return False


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM by pid, then SIGKILL if it does not go."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
