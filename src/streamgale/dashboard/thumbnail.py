"""Small PNG previews of DICOM images, with an AI segmentation outlined on top.

A thumbnail follows the grayscale pipeline a viewer uses (PS3.4 N.2.1):
stored values -> Modality LUT (Rescale Slope/Intercept, giving HU for CT)
-> the VOI window the instance states (else its full range) -> MONOCHROME1
inverted, then scaled down to at most ``max_size`` pixels a side. A mask
from a SEG is drawn as a red outline so the finding can be seen at a glance.

>>> from streamgale.dicom.synthetic import ct_series
>>> png = render_thumbnail(ct_series(slices=1, size=64, lesion=True)[0], max_size=32)
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.errors import DicomError, require

__all__ = ["render_thumbnail", "seg_mask"]

_OUTLINE = np.array([255, 64, 64], dtype=np.uint8)


def render_thumbnail(
    dataset: Any,
    *,
    frame: int | None = None,
    mask: npt.NDArray[np.bool_] | None = None,
    max_size: int = 256,
) -> bytes:
    """A PNG of ``frame`` (default: the middle one) of ``dataset`` (a pydicom Dataset or path).

    ``mask`` (rows x columns, True inside) is outlined in red. Raises
    :class:`~streamgale.errors.DicomError` when the pixels cannot be shown.
    """
    require("pydicom", feature="dashboard thumbnails", extra="dicom")
    image: Any = require("PIL.Image", feature="dashboard thumbnails", extra="dicom")
    from streamgale.dicom.pixels import decode_frame, number_of_frames

    ds = _dataset(dataset)
    index = number_of_frames(ds) // 2 if frame is None else frame
    pixels = decode_frame(ds, index)
    if pixels.ndim == 3:  # colour: shown as stored, stretched to 8 bits
        rgb = _to_uint8(_stretch(pixels.astype(np.float32)))
    else:
        grey = _to_uint8(_grey(pixels, ds, index))
        rgb = np.repeat(grey[..., np.newaxis], 3, axis=2)
    picture = image.fromarray(rgb)
    picture.thumbnail((max_size, max_size), image.Resampling.BILINEAR)
    if mask is not None and mask.shape == rgb.shape[:2]:
        # Outlined after scaling down, so the border stays one visible pixel wide.
        small = image.fromarray(mask.astype(np.uint8) * 255).resize(
            picture.size, image.Resampling.NEAREST
        )
        shown = np.array(picture)
        shown[_outline(np.asarray(small) > 0)] = _OUTLINE
        picture = image.fromarray(shown)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def seg_mask(seg: Any, sop_instance_uid: str) -> npt.NDArray[np.bool_] | None:
    """The union of a SEG's segments on the image ``sop_instance_uid``, or None.

    ``seg`` is a Segmentation instance (dataset or path); its frames name
    their source image in the Derivation Image Sequence (PS3.3 C.7.6.16.2.6).
    """
    ds = _dataset(seg)
    frames = [
        i
        for i, item in enumerate(ds.get("PerFrameFunctionalGroupsSequence", []))
        if sop_instance_uid in _sources(item)
    ]
    if not frames:
        return None
    pixels = np.asarray(ds.pixel_array)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    found: npt.NDArray[np.bool_] = np.any(pixels[frames] > 0, axis=0)
    return found


def _dataset(value: Any) -> Any:
    if isinstance(value, str | Path):
        from pydicom import dcmread

        return dcmread(value)
    return value


def _sources(item: Any) -> set[str]:
    return {
        str(source.ReferencedSOPInstanceUID)
        for derivation in item.get("DerivationImageSequence", [])
        for source in derivation.get("SourceImageSequence", [])
    }


def _grey(pixels: npt.NDArray[Any], ds: Any, index: int) -> npt.NDArray[np.float32]:
    """Stored values of one frame -> displayed values in [0, 1]."""
    from streamgale.dicom.pixels import (
        apply_modality_lut,
        apply_voi,
        invert_monochrome1,
        rescale_parameters,
        window_from_dataset,
    )

    try:
        if "ModalityLUTSequence" in ds:
            values = apply_modality_lut(pixels, ds)
        else:
            slope, intercept = rescale_parameters(ds, index)
            values = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        window = window_from_dataset(ds, index)
        shown = (
            apply_voi(values, window.center, window.width, function=window.function)
            if window is not None
            else _stretch(values)
        )
    except (ValueError, DicomError):  # an unusable window: fall back to the full range
        shown = _stretch(pixels.astype(np.float32))
    return invert_monochrome1(shown, str(ds.get("PhotometricInterpretation", "")))


def _stretch(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def _to_uint8(values: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    out: npt.NDArray[np.uint8] = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    return out


def _outline(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Mask pixels with a 4-neighbour outside the mask: a one-pixel border."""
    inside = np.pad(mask.astype(bool), 1, constant_values=False)
    core = inside[1:-1, 1:-1]
    interior = core & inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
    border: npt.NDArray[np.bool_] = core & ~interior
    return border
