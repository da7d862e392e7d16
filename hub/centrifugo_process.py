"""The Centrifugo server process, run from the hub's own config and watched like a worker.

async with CentrifugoProcess(settings, app.usage()) as server:
    print(server.url)              # http://127.0.0.1:8000

Entering starts the pinned Centrifugo and waits until it answers, and until the
Centrifugo answering is this one: its ``info`` (server API, with the API key)
must name the node name given to this child, and the child must be alive. A
Centrifugo that dies later is logged and started again with backoff
(:attr:`CentrifugoProcess.state`, :attr:`~CentrifugoProcess.restarts`).

The child dies with the hub, even when the hub is killed with SIGKILL (Linux's
parent-death signal). Its rendered config (it holds every secret) is written
0600 and deleted as soon as Centrifugo has read it, so nothing is left behind;
files of a hub killed while starting are removed by the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from hub.centrifugo import Usage, find_binary, render

from .errors import HubError
from .settings import Settings

log = logging.getLogger(__name__)
#: Seconds between restarts of a Centrifugo that keeps dying: doubles from the first to the last.
BACKOFF = (0.5, 30.0)
#: A Centrifugo that ran this long before dying restarts after the first backoff again.
STABLE = 60.0
_PREFIX = "hub-centrifugo-"
_PR_SET_PDEATHSIG = 1


def write_config(settings: Settings, usage: Usage, *, node: str | None = None) -> Path:
    """Render Centrifugo's config into a private (0600) temporary file; it holds secrets.

    The file's name carries this process's pid, so a later start can tell a file left by a
    hub that was killed (:func:`remove_stale_configs`) from one in use.
    """
    config = render(settings.centrifugo, settings.proxy, usage)
    if node is not None:
        config.setdefault("node", {}).setdefault("name", node)
    fd, name = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", suffix=".json")
    with os.fdopen(fd, "w") as f:  # mkstemp creates the file 0600
        json.dump(config, f, indent=2)
    return Path(name)


def remove_stale_configs(folder: Path | None = None) -> list[Path]:
    """Delete the rendered configs whose hub process is gone; the paths removed."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{_PREFIX}*.json"):
        match = re.match(rf"{_PREFIX}(\d+)-", path.name)
        if match and not _alive(int(match.group(1))) and path.stat().st_uid == os.getuid():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class State(enum.Enum):
    """starting → running ⇄ restarting → stopped (from any state)."""

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"


class CentrifugoProcess:
    """Starts the pinned Centrifugo as a child process, watches it, and stops it by pid."""

    def __init__(
        self, settings: Settings, usage: Usage, *, start_timeout: float = 15.0,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.usage = usage
        self.start_timeout = start_timeout
        self.backoff = backoff
        c = settings.centrifugo
        self.url = f"http://{c.host}:{c.port}"
        #: The node name only this child has: ``info`` proves the one answering is ours.
        self.node = f"hub-{os.getpid()}-{secrets.token_hex(4)}"
        self.state = State.STARTING
        #: How many times Centrifugo died and was started again.
        self.restarts = 0
        self.pid: int | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._entered = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise HubError("CentrifugoProcess can be started only once")
        self._entered = True
        for path in remove_stale_configs():
            log.info("removed %s, left by a hub that is gone", path)
        c = self.settings.centrifugo
        check_free("centrifugo.port", c.host, c.port)
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        self.state = State.RUNNING
        self._watcher = asyncio.create_task(self._watch(), name="centrifugo watcher")
        return self

    async def _start(self) -> None:
        """Start one Centrifugo and wait until it is the one answering."""
        binary = find_binary()
        config = write_config(self.settings, self.usage, node=self.node)
        try:
            self._process = await asyncio.create_subprocess_exec(
                str(binary), "-c", str(config), preexec_fn=_die_with(os.getpid())
            )
            self.pid = self._process.pid
            await self._wait_ready()
        finally:
            # Centrifugo has read it (or failed): the secrets need not stay on disk.
            config.unlink(missing_ok=True)
        log.info("centrifugo %s running at %s (pid %d, node %s)", binary, self.url, self.pid, self.node)

    async def _wait_ready(self) -> None:
        process = self._process
        assert process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        seen: list[str] = []
        while loop.time() < deadline:
            if process.returncode is not None:
                raise HubError(
                    f"centrifugo exited with status {process.returncode} at start"
                    + (f" (another server answers {self.url}: node {seen[0]!r})" if seen else "")
                )
            seen = await asyncio.to_thread(_node_names, self.url, self.settings.centrifugo.api_key)
            if self.node in seen:
                return
            await asyncio.sleep(0.05)
        found = f"; the server answering is node {seen[0]!r}, not {self.node!r}" if seen else ""
        raise HubError(f"centrifugo did not answer {self.url} within {self.start_timeout}s{found}")

    async def _watch(self) -> None:
        """Start Centrifugo again whenever it dies, with backoff; runs until cancelled."""
        first, last = self.backoff
        delay = first
        while True:
            assert self._process is not None
            started = asyncio.get_running_loop().time()
            status = await self._process.wait()
            ran = asyncio.get_running_loop().time() - started
            if ran > STABLE:
                delay = first
            self.state = State.RESTARTING
            log.error(
                "centrifugo (pid %s) exited with status %s after %.1fs; starting it again in %.1fs",
                self.pid, status, ran, delay,
            )  # fmt: skip
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, last)
                try:
                    await self._start()
                    break
                except Exception as exc:  # whatever it is, the next try may fare better
                    await self._stop()
                    log.error("centrifugo did not start again: %s; next try in %.1fs", exc, delay)
            self.restarts += 1
            self.state = State.RUNNING
            log.warning("centrifugo running again (pid %s, restart %d)", self.pid, self.restarts)

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self._stop()
        self.state = State.STOPPED


def check_free(key: str, host: str, port: int, hint: str = "") -> None:
    """Refuse a busy port with one line naming its key (HubError).

    A Centrifugo left on the port would answer in place of ours; a busy proxy port
    would stop a listener half-way through the start.
    """
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        raise HubError(f"{key}: cannot listen on {host}:{port}: {_reason(exc)}{hint}") from exc


def _node_names(url: str, api_key: str) -> list[str]:
    """The node names Centrifugo's ``info`` lists ([] when it does not answer)."""
    request = urllib.request.Request(
        url + "/api/info", data=b"{}", method="POST", headers={"X-API-Key": api_key}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            body: dict[str, Any] = json.loads(response.read())
    except (OSError, ValueError):
        return []
    nodes = body.get("result", {}).get("nodes", [])
    return [str(n.get("name", "")) for n in nodes if isinstance(n, dict)]


def _die_with(parent: int) -> Callable[[], None] | None:
    """A preexec function: the child gets SIGTERM when the hub dies, however it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the hub died before prctl: nobody will send the signal
            os._exit(1)

    return preexec


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reason(exc: OSError) -> str:
    # create_server's own message adds "(while attempting to bind ...)": the errno says it.
    return os.strerror(exc.errno) if exc.errno else str(exc)
