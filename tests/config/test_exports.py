"""The public names of streamgale.config and streamgale.cli."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["streamgale.config", "streamgale.cli"])
def test_all_is_complete(name: str) -> None:
    module = importlib.import_module(name)
    for member in module.__all__:
        assert hasattr(module, member)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("streamgale")
    }
    assert public <= set(module.__all__)
