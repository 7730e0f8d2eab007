"""The public API is curated: every name in __all__ exists, and nothing else leaks."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "streamgale",
    "streamgale.dataflow",
    "streamgale.windowing",
    "streamgale.connectors",
    "streamgale.log",
    "streamgale.state",
    "streamgale.metrics",
    "streamgale.deadletter",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist_and_are_sorted(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=lambda s: (s.startswith("__"), s))
    for member in exported:
        assert hasattr(module, member), f"{name}.{member} is in __all__ but missing"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_members_are_all_exported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("streamgale")
    }
    assert public <= set(module.__all__), f"{name} leaks {public - set(module.__all__)}"
