"""Every package's __all__ is sorted and complete, and every lazy export resolves."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["hub", "hub.proxy", "hub.clients", "hub.centrifugo", "hub.pool", "hub.testing", "hub.jobs"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    package = importlib.import_module(name)
    exported = package.__all__
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert set(exported) == set(package._EXPORTS)
    for attr in exported:  # each lazy export loads, and is the object its module defines
        module = importlib.import_module(package._EXPORTS[attr], name)
        assert getattr(package, attr) is getattr(module, attr)


@pytest.mark.parametrize("name", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(name: str) -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        importlib.import_module(name).nope  # noqa: B018
