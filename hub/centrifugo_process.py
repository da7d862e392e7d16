"""The Centrifugo server process, run from the hub's own config.

async with CentrifugoProcess(settings, app.usage()) as server:
    print(server.url)              # http://127.0.0.1:8000
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import tempfile
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from hub.centrifugo import Usage, find_binary, render

from .errors import HubError
from .settings import Settings

log = logging.getLogger(__name__)


def write_config(settings: Settings, usage: Usage) -> Path:
    """Render Centrifugo's config into a private temporary file (it holds secrets)."""
    config = render(settings.centrifugo, settings.proxy, usage)
    fd, name = tempfile.mkstemp(prefix="hub-centrifugo-", suffix=".json")
    with os.fdopen(fd, "w") as f:  # mkstemp creates the file 0600
        json.dump(config, f, indent=2)
    return Path(name)


class CentrifugoProcess:
    """Starts the pinned Centrifugo as a child process and stops it by pid."""

    def __init__(self, settings: Settings, usage: Usage, *, start_timeout: float = 15.0) -> None:
        self.settings = settings
        self.usage = usage
        self.start_timeout = start_timeout
        self.url = f"http://{settings.centrifugo.host}:{settings.centrifugo.port}"
        self._process: asyncio.subprocess.Process | None = None
        self._config: Path | None = None

    async def __aenter__(self) -> Self:
        if self._process is not None:
            raise HubError("CentrifugoProcess can be started only once")
        self._config = write_config(self.settings, self.usage)
        binary = find_binary()
        self._process = await asyncio.create_subprocess_exec(str(binary), "-c", str(self._config))
        try:
            await self._wait_healthy()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        log.info("centrifugo %s running at %s (pid %d)", binary, self.url, self._process.pid)
        return self

    async def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = asyncio.get_running_loop().time() + self.start_timeout
        while asyncio.get_running_loop().time() < deadline:
            if self._process.returncode is not None:
                raise HubError(f"centrifugo exited with status {self._process.returncode} at start")
            if await asyncio.to_thread(_healthy, self.url + "/health"):
                return
            await asyncio.sleep(0.05)
        raise HubError(f"centrifugo did not answer {self.url}/health within {self.start_timeout}s")

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._config is not None:
            self._config.unlink(missing_ok=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
