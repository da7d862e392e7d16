"""Every package's __all__ is sorted and complete."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["hub", "hub.proxy", "hub.clients", "hub.centrifugo", "hub.jobs"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    package = importlib.import_module(name)
    exported = package.__all__
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    public = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_") and not inspect.ismodule(value) and attr != "annotations"
    }
    assert public == set(exported)
