"""streamgale.dicom.quality exports a curated __all__ and names the extra when pydicom is absent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import streamgale.dicom.quality as quality
from streamgale.errors import MissingExtraError


def test_all_names_exist_and_nothing_public_leaks() -> None:
    assert len(quality.__all__) == len(set(quality.__all__))
    for name in quality.__all__:
        assert hasattr(quality, name), name
    public = {
        name
        for name, value in vars(quality).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("streamgale.dicom.quality")
    }
    assert public <= set(quality.__all__), public - set(quality.__all__)


def test_without_pydicom_validation_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom now fails
    with pytest.raises(MissingExtraError, match=r"streamgale\[dicom\]"):
        quality.validate_bytes(b"", quality.ValidationLimits())


def test_without_pydicom_the_quarantine_still_works(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pydicom", None)
    store = quality.QuarantineStore(tmp_path / "q")
    try:
        entry = store.put(b"x", reason="r", stage="delivery", source="api")
        assert store.read_bytes(entry.id) == b"x"
    finally:
        store.close()
