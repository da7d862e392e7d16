"""`hub init`'s files: a valid hub.yaml with fresh secrets, an importable app, nothing overwritten."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.loader import import_app
from hub.scaffold import ProjectExists, scaffold
from hub.settings import load, weaknesses


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The starter's module is named `app`: keep it (and its folder) out of later tests."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = sys.modules.pop("app", None)
    yield
    sys.modules.pop("app", None)
    if before is not None:
        sys.modules["app"] = before


@pytest.mark.usefixtures("clean_imports")
def test_the_project_loads_imports_and_has_strong_fresh_secrets(tmp_path: Path) -> None:
    message = scaffold(tmp_path / "one")
    scaffold(tmp_path / "two")
    one, two = (load(tmp_path / d / "hub.yaml", environ={}) for d in ("one", "two"))
    assert weaknesses(one) == []
    assert one.proxy.secret != two.proxy.secret
    assert one.centrifugo.token_secret != two.centrifugo.token_secret
    assert len({one.proxy.secret, one.centrifugo.api_key, one.centrifugo.token_secret}) == 3
    assert import_app(one.app, one.app_dir).usage().channel_patterns == {"subscribe": ["chat"]}
    assert (tmp_path / "one" / "tests" / "test_app.py").exists()
    assert message.splitlines()[-2:] == [
        f"  hub check -c {tmp_path / 'one' / 'hub.yaml'}",
        f"  hub serve -c {tmp_path / 'one' / 'hub.yaml'} --centrifugo --reload",
    ]


def test_nothing_is_overwritten(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text("mine\n")
    with pytest.raises(ProjectExists, match="would overwrite"):
        scaffold(tmp_path)
    assert (tmp_path / "hub.yaml").read_text() == "mine\n"
    assert not (tmp_path / "app.py").exists()
