"""The pytest plugin of :mod:`hub.testing` (registered by the ``pytest11`` entry point).

Fixtures, for a project whose hub.yaml is at the ``hub_config`` ini option
(default ``hub.yaml`` in pytest's rootdir; ``--hub-config`` overrides it):

- ``hub_config``: the path of the project's hub.yaml (override it in a conftest.py to point elsewhere);
- ``hub_settings``: that file, loaded and validated;
- ``hub_app``: the project's :class:`hub.App`, imported as ``hub serve`` imports it;
- ``published``: a :class:`RecordingPublisher` installed on ``hub_app`` for one test;
- ``hub_server``: a real Centrifugo and ``hub serve`` for the app, on free ports (one per module).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.app import App
from hub.loader import import_app
from hub.settings import Settings, load

from .recording import RecordingPublisher
from .server import HubServer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("hub_config", "the project's hub.yaml for hub.testing's fixtures", default="hub.yaml")
    parser.addoption("--hub-config", metavar="PATH", help="the hub.yaml hub.testing's fixtures use")


@pytest.fixture(scope="session")
def hub_config(pytestconfig: pytest.Config) -> Path:
    """The project's hub.yaml."""
    option = pytestconfig.getoption("hub_config")
    return Path(option) if option else pytestconfig.rootpath / str(pytestconfig.getini("hub_config"))


@pytest.fixture(scope="session")
def hub_settings(hub_config: Path) -> Settings:
    """The project's settings, validated as ``hub check`` does."""
    return load(hub_config)


@pytest.fixture(scope="session")
def hub_app(hub_settings: Settings) -> App:
    """The project's app, imported as ``hub serve`` imports it."""
    return import_app(hub_settings.app, hub_settings.app_dir)


async def _published(hub_app: App) -> AsyncIterator[RecordingPublisher]:
    """``app.publish`` (and ``publish_sync``) record here for the test instead of calling Centrifugo."""
    with RecordingPublisher().installed(hub_app) as recording:
        yield recording


def _published_sync(hub_app: App) -> Iterator[RecordingPublisher]:
    """``app.publish`` records here for the test instead of calling Centrifugo."""
    with RecordingPublisher().installed(hub_app) as recording:
        yield recording


try:  # async, so the recording knows the test's event loop (publish_sync hops to it from a thread)
    import pytest_asyncio
except ImportError:  # the plugin loads in every pytest run: never break one without pytest-asyncio
    published: Any = pytest.fixture(_published_sync, name="published")
else:
    published = pytest_asyncio.fixture(_published, name="published")


@pytest.fixture(scope="module")
def hub_server(hub_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """Centrifugo and ``hub serve`` for the project, on free ports, for the test module."""
    with HubServer(hub_config, tmp_path_factory.mktemp("hub")) as server:
        yield server
