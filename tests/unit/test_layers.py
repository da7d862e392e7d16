"""The layers hold at runtime: importing a layer loads only what it may use.

Imports point one way (centrifugo <- proxy, clients <- hub <- demo), and the
entry points that must be quick or lean (``hub workers``, a pooled worker) stay
so. Each case imports in a fresh interpreter and looks at ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("grpc", "aiohttp", "starlette", "uvicorn", "yaml", "redis")

#: (module imported, modules that must not be loaded by it)
CONTRACT = [
    ("hub", ("hub.app", "hub.settings", "hub.centrifugo", *HEAVY)),
    ("hub.centrifugo", ("hub.proxy", "hub.clients", "hub.app", "hub.pool", *HEAVY)),
    ("hub.centrifugo.codes", ("msgspec", "google.protobuf", "cryptography", *HEAVY)),
    ("hub.proxy", ("hub.clients", "hub.app", "hub.pool", "hub.settings", "aiohttp", "yaml", "redis")),
    ("hub.clients", ("hub.proxy", "hub.app", "hub.pool", "starlette", "uvicorn", "yaml")),
    # What `hub workers` and `hub reset` load.
    ("hub.cli", ("hub.app", "hub.settings", *HEAVY)),
    # A pooled worker never loads the supervisor, the control server or the Centrifugo runner.
    ("hub.pool.worker", ("hub.pool.supervisor", "hub.pool.control", "hub.centrifugo_process", "hub.service")),
]


def loaded_by(module: str) -> set[str]:
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize(("module", "forbidden"), CONTRACT, ids=[m for m, _ in CONTRACT])
def test_a_layer_loads_only_what_it_may(module: str, forbidden: tuple[str, ...]) -> None:
    loaded = loaded_by(module)
    assert module in loaded
    leaks = sorted(m for m in loaded for f in forbidden if m == f or m.startswith(f + "."))
    assert not leaks, f"importing {module} loaded {leaks}"


def test_no_package_imports_another_ones_private_modules() -> None:
    """Across packages, only public names: never `hub.centrifugo._proto` from clients/, say."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2]
    pattern = re.compile(r"^\s*(?:from|import)\s+hub\.(\w+)\.(_\w+)", re.M)
    offenders = []
    for package in ("hub", "proxy", "clients", "centrifugo"):
        for path in (root / package).rglob("*.py"):
            if path.is_symlink() or "_proto" in path.parts:
                continue
            for target, private in pattern.findall(path.read_text()):
                if target != package and not (package == "hub" and target == "pool"):
                    offenders.append(f"{path.relative_to(root)}: hub.{target}.{private}")
    assert not offenders
