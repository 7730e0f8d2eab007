"""Shared helpers for the ingest tests: synthetic instances as bytes, log readers, dcmtk."""

from __future__ import annotations

import os
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from streamgale.dicom.ingest import CompletionSignal, InstanceEvent, InstanceStore, decode_event
from streamgale.dicom.synthetic import ct_series
from streamgale.log import Log

DCMTK_HINT = "install dcmtk (make test does: apt-get install dcmtk)"


def bundled(name: str) -> Path:
    """A file bundled with pydicom (no network: only files in the installed wheel)."""
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name)
    if not isinstance(found, str):
        pytest.fail(f"pydicom does not bundle {name}")
    return Path(found)


def part10(ds: Any) -> bytes:
    """A dataset as Part-10 file bytes."""
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def ct_files(count: int, *, size: int = 32, seed: int = 0) -> list[bytes]:
    """``count`` synthetic CT instances of one series, as Part-10 bytes."""
    return [part10(ds) for ds in ct_series(slices=count, size=size, seed=seed)]


def events(log: Log, topic: str = "instances") -> list[InstanceEvent | CompletionSignal]:
    """Every ingest event in the topic, in order."""
    records = log.read(topic, 0, log.start_offset(topic, 0), 1_000_000)
    return [decode_event(r.payload) for r in records]


def instance_events(log: Log) -> list[InstanceEvent]:
    """The instance events of the topic, in order."""
    return [e for e in events(log) if isinstance(e, InstanceEvent)]


def signals(log: Log) -> list[CompletionSignal]:
    """The completion signals of the topic, in order."""
    return [e for e in events(log) if isinstance(e, CompletionSignal)]


def dcmtk(tool: str) -> str:
    """Path of a dcmtk tool; fails the test (never skips) when dcmtk is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: {DCMTK_HINT}")
    return path


def write_files(blobs: list[bytes], directory: Path) -> list[Path]:
    """Write each blob as ``NNNN.dcm`` under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, blob in enumerate(blobs):
        path = directory / f"{n:04d}.dcm"
        path.write_bytes(blob)
        paths.append(path)
    return paths


def abandon(store: InstanceStore) -> None:
    """Let go of a store as a killed process would: nothing closed cleanly.

    The directory's lock is released (the kernel does that for a dead
    process), so the directory can be opened again and recovery runs.
    """
    store._objects.close()
    os.close(store._lock_fd)
    store._closed = True
