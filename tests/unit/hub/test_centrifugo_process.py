"""The rendered Centrifugo config: private, named after its hub, swept when its hub is gone."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hub.centrifugo import Usage
from hub.centrifugo_process import remove_stale_configs, write_config
from hub.settings import Settings, load


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "hub.yaml"
    path.write_text(
        "app: demo.app:app\nproxy: {secret: s}\n"
        "centrifugo: {api_key: a, token_secret: unit-token-secret-of-32-bytes-or-more}\n"
    )
    return load(path)


def test_the_config_is_private_and_named_after_this_process(settings: Settings) -> None:
    path = write_config(settings, Usage(), node="hub-node-1")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.name.startswith(f"hub-centrifugo-{os.getpid()}-")
        assert '"name": "hub-node-1"' in path.read_text()
    finally:
        path.unlink()


def test_configs_of_hubs_that_are_gone_are_removed_and_others_kept(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = tmp_path / f"hub-centrifugo-{int(gone.stdout)}-abc.json"
    alive = tmp_path / f"hub-centrifugo-{os.getpid()}-def.json"
    other = tmp_path / "unrelated.json"
    for path in (dead, alive, other):
        path.write_text("{}")
    assert remove_stale_configs(tmp_path) == [dead]
    assert not dead.exists()
    assert alive.exists()
    assert other.exists()
