"""`hub serve --reload`: an edit is live soon with no failed call; a broken edit keeps the old code."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

from hub.clients import ClientError, RealtimeClient

from .servers import HUB, free_port, http_ok, stop, wait_until

OLD = 'return {"ok": True}'
NEW = 'return {"ok": True, "edited": 1}'


def test_an_edit_is_served_without_a_failed_call_and_a_broken_one_keeps_the_old_code(tmp_path: Path) -> None:
    project = tmp_path / "chat"
    assert subprocess.run([str(HUB), "init", str(project)], capture_output=True).returncode == 0
    port = free_port()
    options = ["-o", f"proxy.http_port={free_port()}", "-o", f"centrifugo.port={port}"]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(HUB), "serve", "--centrifugo", "--reload", *options],
            cwd=project, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/health") or process.poll() is not None, 30, "hub"
        )
        assert process.poll() is None, log.read_text()
        wait_until(lambda: "reload: watching" in log.read_text(), 10, "the watcher")
        url = f"ws://127.0.0.1:{port}/connection/websocket"
        answers, failures = asyncio.run(_under_load(url, project / "app.py", log))
    finally:
        stop(process)
    text = log.read_text()
    assert failures == [], text
    assert answers[0] == {"ok": True}
    assert answers[-1] == {"ok": True, "edited": 1}
    assert "reload: 1 workers replaced" in text
    assert "the old workers keep serving" in text
    assert "Logging error" not in text
    assert f"{project / 'app.py'}:" in text  # the broken edit's file, with its line
    assert "pool: 1 workers ready" in text  # --reload runs one worker unless told otherwise
    assert "hub.pool.worker[worker" in text  # worker lines name their logger
    assert "__main__" not in text


async def _under_load(url: str, app: Path, log: Path) -> tuple[list[object], list[str]]:
    answers: list[object] = []
    failures: list[str] = []
    done = asyncio.Event()

    async def load() -> None:
        async with RealtimeClient(url) as client:
            await client.connect(data={"user": "alice"})
            while not done.is_set():
                try:
                    answers.append(await client.rpc("chat.send", {"text": "hi"}))
                except ClientError as exc:
                    failures.append(repr(exc))
                await asyncio.sleep(0.02)

    async def edit() -> None:
        await until(lambda: bool(answers))
        await asyncio.to_thread(_replace, app, OLD, NEW)
        await until(lambda: answers[-1] == {"ok": True, "edited": 1})
        await asyncio.to_thread(_replace, app, NEW, NEW + "\n    def (")
        await until(lambda: "the old workers keep serving" in log.read_text())
        served = len(answers)
        await until(lambda: len(answers) >= served + 10)
        done.set()

    await asyncio.gather(load(), edit())
    return answers, failures


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not predicate():  # noqa: ASYNC110 (polling what another task and process do)
            await asyncio.sleep(0.05)
