"""Each package's ``__all__`` is sorted (ruff's style) and names every public name it imports."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["hub", "hub.clients", "hub.centrifugo"])
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    # CONSTANTS, then Classes, then functions (ruff RUF022's isort-style order).
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, type(module))  # submodules are not exports
        and attr != "annotations"
    }
    assert public == set(exported)
