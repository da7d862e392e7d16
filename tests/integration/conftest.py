"""Fixtures: a real Redis, a real Centrifugo and a real `hub serve` per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.centrifugo import BinaryNotFound, find_binary

from .servers import Stack, redis_server, stack_config


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows the logs of the servers it used (module-scoped stacks outlive it)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, Stack):
                report.sections.append((f"logs of {name}", value.log_text()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``any_transport`` needs a stack, not a particular proxy transport: run it once."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("any_transport")
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("stack") == "grpc"  # type: ignore[attr-defined]
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(scope="session", autouse=True)
def centrifugo_binary() -> Path:
    try:
        return find_binary()
    except BinaryNotFound as exc:
        pytest.fail(f"integration tests need Centrifugo: {exc}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with redis_server(tmp_path_factory.mktemp("redis")) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module", params=["http", "grpc"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Centrifugo + `hub serve` with the module's ``APP``, ``CONFIG`` and ``ENV``, over each proxy transport."""
    app = request.module.APP
    extra = getattr(request.module, "CONFIG", {})
    config = stack_config(app, request.param, **extra)
    s = Stack(
        tmp_path_factory.mktemp(f"stack-{request.param}"), config, env=getattr(request.module, "ENV", {})
    )
    with s.running():
        yield s
