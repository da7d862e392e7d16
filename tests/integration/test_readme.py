"""The README's first application, as a reader copies it: its handlers, hub.yaml and Python client.

The fenced blocks whose first line names a file (``# myapp.py``, ``# hub.yaml``, ``# client.py``)
are written to a folder; ``hub check`` accepts the config, ``hub serve --centrifugo`` runs it
(on free ports) and the client script prints what the README says it does.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.testing import HubServer

from .servers import ROOT

README = ROOT / "README.md"
BLOCK = re.compile(r"^```[a-z]*\n(?:#|<!--) (?P<name>[\w.]+)(?: -->)?\n(?P<body>.*?)^```", re.M | re.S)
URL = "ws://localhost:8000/connection/websocket"


def files() -> dict[str, str]:
    """The README's named blocks, by file name (the naming line is kept: it is a comment)."""
    text = README.read_text()
    return {m["name"]: m.group(0).split("\n", 1)[1].rsplit("```", 1)[0] for m in BLOCK.finditer(text)}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    for name, body in files().items():
        (folder / name).write_text(body)
    return folder


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with HubServer(project / "hub.yaml", tmp_path_factory.mktemp("serve")) as running:
        yield running


def test_the_readme_names_the_files_of_its_first_application() -> None:
    assert {"myapp.py", "hub.yaml", "client.py", "page.html"} <= set(files())


def test_hub_check_accepts_the_readme_config(project: Path) -> None:
    hub = Path(sys.executable).parent / "hub"
    checked = subprocess.run(
        [hub, "check", "-c", project / "hub.yaml"], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert "handles: connect, subscribe, rpc" in checked.stdout


def test_the_python_client_sends_and_receives_through_the_readme_app(
    project: Path, server: HubServer
) -> None:
    script = (project / "client.py").read_text()
    assert URL in script
    (project / "client_here.py").write_text(script.replace(URL, server.ws_url))
    ran = subprocess.run(
        [sys.executable, project / "client_here.py"], capture_output=True, text=True, timeout=30
    )
    assert ran.returncode == 0, ran.stderr
    # The reply and the publication race each other back to the client: either order is right.
    assert sorted(ran.stdout.splitlines()) == ["bob: hello from Python", "reply: {'sent': True}"]
