"""Shared helpers for the validation and quarantine tests: synthetic CT and pydicom's own files."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
from pydicom.data.data_manager import DATA_ROOT

from streamgale.dicom.synthetic import ct_series

BUNDLED_DIR = Path(DATA_ROOT) / "test_files"
"""pydicom's test files shipped in the wheel. ``get_testdata_files()`` would also try to
download pydicom-data (no network in tests), so the directory is listed directly."""


def bundled_files() -> list[Path]:
    """Every data file pydicom ships for its tests (DICOM or not), sorted."""
    return sorted(p for p in BUNDLED_DIR.rglob("*") if p.is_file() and p.suffix != ".py")


def bundled(name: str) -> Path:
    """One bundled file by name; fails (never downloads) when it is not in the wheel."""
    path = BUNDLED_DIR / name
    assert path.is_file(), f"{name} is not bundled with pydicom {pydicom.__version__}"
    return path


def synthetic_ct(size: int = 64) -> Any:
    """One valid CT Image Storage instance (a pydicom Dataset)."""
    return ct_series(slices=1, size=size, seed=7)[0]


def encode(ds: Any) -> bytes:
    """``ds`` as a DICOM Part 10 file."""
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
