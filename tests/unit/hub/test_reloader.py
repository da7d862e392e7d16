"""What `hub serve --reload` watches: the app's package, or its folder; never a whole repository."""

from __future__ import annotations

from pathlib import Path

from hub.loader import import_app
from hub.reloader import watched
from hub.settings import load

ROOT = Path(__file__).resolve().parents[3]


def test_a_package_app_is_watched_in_its_package_only() -> None:
    settings = load(ROOT / "demo" / "hub.yaml", environ={})
    import_app(settings.app, settings.app_dir)
    assert watched(settings) == [ROOT / "demo"]


def test_a_single_module_app_is_watched_in_its_folder(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text(
        "app: lonely_module:app\nproxy: {secret: s}\ncentrifugo: {api_key: a, token_secret: t}\n"
    )
    settings = load(tmp_path / "hub.yaml", environ={})
    assert watched(settings) == [tmp_path.resolve()]
