"""The header cache between preparation and finalization."""

from __future__ import annotations

import gc
import io
import tracemalloc
from pathlib import Path

import pydicom

from streamgale.dicom.radiology.headers import HeaderCache
from streamgale.dicom.synthetic import ct_series, write_instances


def test_a_kept_header_is_what_the_store_read_leaves(tmp_path: Path) -> None:
    [path] = write_instances(ct_series(slices=1, size=16, seed=3), tmp_path)
    parsed = pydicom.dcmread(io.BytesIO(path.read_bytes()))
    parsed.DataSetTrailingPadding = b"\0\0"  # (FFFC,FFFC): after the pixels, left out too
    cache = HeaderCache()
    cache.put("1.2.3", parsed)
    header = cache.take("1.2.3")
    assert "PixelData" not in header and "DataSetTrailingPadding" not in header
    read = pydicom.dcmread(path, stop_before_pixels=True)
    assert list(header.keys()) == list(read.keys())
    assert all(header[e.tag].value == e.value for e in read)


def test_each_header_is_handed_over_once() -> None:
    cache = HeaderCache()
    cache.put("1.2.3", pydicom.Dataset())
    assert cache.take("1.2.3") is not None
    assert cache.take("1.2.3") is None


def test_the_oldest_headers_make_room() -> None:
    cache = HeaderCache(capacity=2)
    for uid in ("1", "2", "3"):
        cache.put(uid, pydicom.Dataset())
    assert len(cache) == 2
    assert cache.take("1") is None
    assert cache.take("2") is not None and cache.take("3") is not None


def test_a_kept_header_does_not_keep_the_file_bytes(tmp_path: Path) -> None:
    """pydicom keeps the buffer a dataset was read from: the whole file, pixels included
    (0.5 MB per 512x512 slice, 2 GB for a full cache, before this was dropped)."""
    paths = write_instances(ct_series(slices=8, size=256, seed=5), tmp_path)
    cache = HeaderCache()
    tracemalloc.start()
    try:
        for path in paths:
            cache.put(path.name, pydicom.dcmread(io.BytesIO(path.read_bytes())))
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < len(paths) * 256 * 256 * 2 / 4  # a quarter of the pixels' bytes
