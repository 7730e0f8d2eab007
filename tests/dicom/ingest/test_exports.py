"""streamgale.dicom.ingest exports a curated API: every name exists, nothing else leaks."""

from __future__ import annotations

import streamgale.dicom.ingest as ingest


def test_every_exported_name_exists_once() -> None:
    assert len(ingest.__all__) == len(set(ingest.__all__))
    for name in ingest.__all__:
        assert hasattr(ingest, name), name


def test_public_classes_are_exported() -> None:
    public = {
        name
        for name, value in vars(ingest).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("streamgale.dicom.ingest")
    }
    assert public <= set(ingest.__all__), public - set(ingest.__all__)
