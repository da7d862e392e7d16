"""`hub init` into an empty folder, then `hub check`, `hub serve --centrifugo` and a client: no edit."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import yaml

from hub.clients import RealtimeClient

from .servers import HUB, free_port, http_ok, stop, wait_until


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HUB), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_init_writes_a_project_with_fresh_secrets_and_says_what_next(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    result = run("init", "one", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hub check -c one/hub.yaml" in result.stdout
    assert "hub serve -c one/hub.yaml --centrifugo --reload" in result.stdout
    run("init", "two", cwd=tmp_path)
    first, second = (yaml.safe_load((d / "hub.yaml").read_text()) for d in (one, two))
    secrets = [first["proxy"]["secret"], first["centrifugo"]["api_key"], first["centrifugo"]["token_secret"]]
    assert all(len(s) >= 32 for s in secrets)
    assert len(set(secrets)) == 3
    assert second["proxy"]["secret"] != first["proxy"]["secret"]
    again = run("init", "one", cwd=tmp_path)
    assert again.returncode == 2
    assert "would overwrite" in again.stderr


def test_init_check_serve_and_a_client_gets_an_event(tmp_path: Path) -> None:
    project = tmp_path / "chat"
    assert run("init", "chat", cwd=tmp_path).returncode == 0
    # From another folder: the app is imported relative to hub.yaml, not the current directory.
    check = run("check", "-c", str(project / "hub.yaml"), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "handles: connect, subscribe, rpc" in check.stdout
    # The starter's ports may be taken on a shared machine: move them with -o, the file stays as written.
    ports = {"proxy.http_port": free_port(), "centrifugo.port": free_port()}
    options = [arg for key, port in ports.items() for arg in ("-o", f"{key}={port}")]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(HUB), "serve", "--centrifugo", *options], cwd=project, stdout=out, stderr=out
        )
    try:
        base = f"http://127.0.0.1:{ports['centrifugo.port']}"
        wait_until(
            lambda: http_ok(base + "/health") or process.poll() is not None, 30, "hub serve --centrifugo"
        )
        assert process.poll() is None, log.read_text()
        url = f"ws://127.0.0.1:{ports['centrifugo.port']}/connection/websocket"
        assert asyncio.run(_chat(url)) == {"user": "alice", "text": "hello"}
    finally:
        stop(process)
    assert f"clients connect to {url}" in log.read_text()


async def _chat(url: str) -> object:
    async with RealtimeClient(url) as bob, RealtimeClient(url) as alice:
        await bob.connect(data={"user": "bob"})
        await bob.subscribe("chat:lobby")
        await alice.connect(data={"user": "alice"})
        assert await alice.rpc("chat.send", {"room": "lobby", "text": "hello"}) == {"ok": True}
        while (push := await asyncio.wait_for(bob.pushes.get(), 5)).type != "pub":
            pass
        return push.body["data"]


def test_the_starter_tests_pass_with_hub_testing(tmp_path: Path) -> None:
    assert run("init", "chat", cwd=tmp_path).returncode == 0
    pytest = HUB.parent / "pytest"
    result = subprocess.run(
        [str(pytest), "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path / "chat",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
