"""streamgale.dicom.pixels exports a curated API: every name exists, nothing leaks."""

from __future__ import annotations

import streamgale.dicom.pixels as pixels


def test_all_names_exist_once() -> None:
    assert len(pixels.__all__) == len(set(pixels.__all__))
    for name in pixels.__all__:
        assert hasattr(pixels, name), name


def test_public_members_are_exported() -> None:
    public = {
        name
        for name, value in vars(pixels).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("streamgale.dicom.pixels")
    }
    assert public <= set(pixels.__all__), public - set(pixels.__all__)
