"""Helpers for the pixel tests: bundled pydicom files, synthetic sources, dcmtk encoders."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from streamgale.dicom.synthetic import ct_series

DCMTK_HINT = "install dcmtk (make test does: apt-get install dcmtk)"
BUNDLED = Path(pydicom.data.__file__).parent / "test_files"


def bundled(name: str) -> Dataset:
    """A test file shipped inside the pydicom wheel (never downloaded)."""
    path = BUNDLED / name
    if not path.is_file():
        pytest.fail(f"{name} is not bundled with the installed pydicom ({pydicom.__version__})")
    return pydicom.dcmread(path)


def dcmtk(tool: str, *args: str | Path) -> None:
    """Run a dcmtk tool; fail with the install hint when it is missing."""
    exe = shutil.which(tool)
    if exe is None:
        pytest.fail(f"{tool} is missing: {DCMTK_HINT}")
    done = subprocess.run(
        [exe, *map(str, args)], check=False, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        pytest.fail(f"{tool} {' '.join(map(str, args))} failed: {done.stderr or done.stdout}")


def ct_source(frames: int, *, bits: int = 12, size: int = 48, seed: int = 5) -> Dataset:
    """A synthetic CT instance with ``frames`` frames stored at ``bits`` bits.

    12 bits (values 0..4095, the CT phantom's HU + 1024) suits JPEG extended
    and lossless; 8 bits (a lung window of it) suits JPEG baseline.
    """
    slices = ct_series(slices=frames, size=size, seed=seed)
    ds: Dataset = copy.deepcopy(slices[0])
    stored = np.stack([np.frombuffer(s.PixelData, np.uint16).reshape(size, size) for s in slices])
    if bits == 8:
        hu = stored.astype(np.float32) - 1024.0
        stored8 = np.clip((hu + 1350.0) / 1500.0 * 255.0, 0, 255).astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = stored8.tobytes()
    else:
        ds.BitsStored, ds.HighBit = bits, bits - 1
        ds.PixelData = stored.tobytes()
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def stored_values(ds: Dataset) -> np.ndarray[Any, Any]:
    """The native source's values as (frames, rows, columns)."""
    dtype = np.uint8 if ds.BitsAllocated == 8 else np.uint16
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return np.frombuffer(ds.PixelData, dtype).reshape(frames, ds.Rows, ds.Columns)


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path
