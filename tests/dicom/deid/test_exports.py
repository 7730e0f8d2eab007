"""streamgale.dicom.deid exports a curated __all__."""

from __future__ import annotations

import sys

import pytest

import streamgale.dicom.deid as deid
from streamgale.errors import MissingExtraError


def test_all_names_exist_and_nothing_public_leaks() -> None:
    assert len(deid.__all__) == len(set(deid.__all__))
    for name in deid.__all__:
        assert hasattr(deid, name), name
    public = {
        name
        for name, value in vars(deid).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("streamgale.dicom.deid")
    }
    assert public <= set(deid.__all__), public - set(deid.__all__)
    assert callable(deid.deidentify)


def test_without_pydicom_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom now fails
    config = deid.DeidConfig(secret=bytes(16))
    with pytest.raises(MissingExtraError, match=r"streamgale\[dicom\]"):
        deid.deidentify(object(), config)
