"""The public API is curated: every name in __all__ exists, and nothing else leaks."""

from __future__ import annotations

import importlib
from typing import TypeVar

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
    "streamgale.config",
    "streamgale.testing",
    "streamgale.dicom.deid",
    "streamgale.dicom.web",
    "streamgale.dicom.delivery",
    "streamgale.dicom.results",
    "streamgale.inference",
    "streamgale.dicom.pixels",
    "streamgale.dicom.quality",
    "streamgale.dicom.radiology",
    "streamgale.models",
    "streamgale.dicom.ingest",
    "streamgale.lake",
    "streamgale.telemetry",
    "streamgale.dashboard",
    "streamgale.sql",
    "streamgale.service",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    for member in exported:
        assert hasattr(module, member), f"{name}.{member} is in __all__ but missing"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_members_are_all_exported(name: str) -> None:
    module = importlib.import_module(name)
    # A package re-exports from its submodules; a plain module only owns what it defines.
    is_package = hasattr(module, "__path__")
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, TypeVar)
        and (
            getattr(v, "__module__", "").startswith(name)
            if is_package
            else getattr(v, "__module__", "") == name
        )
    }
    assert public <= set(module.__all__), f"{name} leaks {public - set(module.__all__)}"
