"""Clean Pixel Data Option (PS3.15 E.3.1): blank configured rectangles in every frame.

Only native (uncompressed) Pixel Data (7FE0,0010) is cleaned, in place of a
copy: encapsulated (compressed) pixel data must be decoded first (for example
with ``dcmdjpeg`` or pydicom's ``Dataset.decompress()``), because blanking
compressed bytes is impossible and re-encoding lossy data silently would
change the image. Blanked pixels get stored value 0. Rectangles are clipped
to the image; whether they cover every burned-in annotation is the
configuration's responsibility.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from streamgale.dicom.deid.options import Region
from streamgale.errors import DeidentificationError

__all__ = ["blank_regions"]

_SUBSAMPLED = ("YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420")


def blank_regions(ds: Any, regions: Sequence[Region], *, little_endian: bool) -> bytes:
    """New Pixel Data bytes for ``ds`` with ``regions`` set to 0 in every frame."""
    data: bytes = ds.PixelData
    shape, dtype, interleaved = _layout(ds, little_endian)
    size = int(np.prod(shape)) * dtype.itemsize
    if len(data) < size:
        raise DeidentificationError(
            f"Pixel Data holds {len(data)} bytes but Rows, Columns, Samples per Pixel, "
            f"Bits Allocated and Number of Frames need {size}; the instance is damaged"
        )
    pixels = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape))).reshape(shape).copy()
    # A view as (frames, samples, rows, columns) whatever the planar configuration.
    planes = pixels.transpose(0, 3, 1, 2) if interleaved else pixels
    rows, columns = planes.shape[2], planes.shape[3]
    for row0, col0, row1, col1 in regions:
        planes[:, :, row0 : min(row1, rows), col0 : min(col1, columns)] = 0
    return pixels.tobytes() + data[size:]


def _layout(ds: Any, little_endian: bool) -> tuple[tuple[int, ...], np.dtype[Any], bool]:
    """The stored array shape, sample dtype, and whether samples are interleaved per pixel."""
    bits = int(ds.get("BitsAllocated", 0))
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if bits not in (8, 16, 32, 64) or photometric in _SUBSAMPLED:
        raise DeidentificationError(
            f"cannot clean pixel data with Bits Allocated {bits} and Photometric "
            f"Interpretation {photometric or '(none)'}: only whole-byte samples that are not "
            "chroma-subsampled are supported; convert the instance or do not select the "
            "Clean Pixel Data Option for it"
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    rows, columns = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(f"{'<' if little_endian else '>'}u{bits // 8}")
    if samples > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 0:
        return (frames, rows, columns, samples), dtype, True  # colour-by-pixel
    return (frames, samples, rows, columns), dtype, False
