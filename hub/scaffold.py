"""``hub init [DIR]``: a project that runs and tests with no edit.

    print(scaffold("chat"))     # writes chat/app.py, chat/hub.yaml, chat/tests/test_app.py, chat/pytest.ini

The hub.yaml gets fresh random secrets (32 bytes each, as ``centrifugo genconfig``
does); nothing that exists is overwritten.
"""

from __future__ import annotations

import secrets
from importlib import resources
from pathlib import Path

from .errors import HubError

#: What ``hub init`` writes: template → path in the project.
FILES = {
    "app.py.txt": "app.py",
    "hub.yaml.txt": "hub.yaml",
    "test_app.py.txt": "tests/test_app.py",
    "pytest.ini.txt": "pytest.ini",
}


class ProjectExists(HubError):
    """``hub init`` would overwrite a file."""


def secret() -> str:
    """A fresh random secret: 32 bytes, URL-safe text."""
    return secrets.token_urlsafe(32)


def scaffold(directory: str | Path) -> str:
    """Write a starter project into ``directory``; returns what to run next."""
    root = Path(directory)
    targets = {template: root / path for template, path in FILES.items()}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing:
        raise ProjectExists(f"init: would overwrite {', '.join(existing)}; nothing was written")
    values = {
        "name": root.resolve().name,
        "proxy_secret": secret(),
        "api_key": secret(),
        "token_secret": secret(),
    }
    templates = resources.files("hub") / "templates"
    for template, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((templates / template).read_text().format(**values))
    config = "" if root.resolve() == Path.cwd() else f" -c {root / 'hub.yaml'}"
    lines = [f"wrote {', '.join(str(p) for p in targets.values())}", "next:"]
    lines += [f"  hub check{config}", f"  hub serve{config} --centrifugo --reload"]
    return "\n".join(lines)
