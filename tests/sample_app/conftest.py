"""The sample's hub.yaml is beside its tests (a project of its own would set `hub_config` in pytest.ini)."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def hub_config() -> Path:
    return Path(__file__).parent / "hub.yaml"
