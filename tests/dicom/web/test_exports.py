"""The DICOMweb and delivery packages export a curated API and nothing else."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["streamgale.dicom.web", "streamgale.dicom.delivery"]


@pytest.mark.parametrize("name", PACKAGES)
def test_exports_exist_and_nothing_leaks(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    assert all(hasattr(module, member) for member in exported)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith(name)
    }
    assert public <= set(exported), public - set(exported)
