"""What `hub serve --reload` watches: the app's package, or its folder; never a whole repository."""

from __future__ import annotations

import sys
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


def test_a_web_app_in_another_package_is_watched_too(tmp_path: Path) -> None:
    """The web app is not imported by the supervisor: its package is found without importing it."""
    for package in ("shop", "shop_pages"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    (tmp_path / "hub.yaml").write_text(
        "app: shop.app:app\nproxy: {secret: s}\ncentrifugo: {api_key: a, token_secret: t}\n"
        "web: {app: 'shop_pages.web:web', port: 8080}\n"
    )
    settings = load(tmp_path / "hub.yaml", environ={})
    sys.path.insert(0, settings.app_dir)
    try:
        assert watched(settings) == [tmp_path.resolve() / "shop", tmp_path.resolve() / "shop_pages"]
        # A web module next to a single-module app is inside the folder already watched.
        settings = load(tmp_path / "hub.yaml", environ={}, overrides={"app": "lonely_module:app"})
        assert watched(settings) == [tmp_path.resolve()]
    finally:
        sys.path.remove(settings.app_dir)
