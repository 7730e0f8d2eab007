"""Grayscale transforms: modality LUT, VOI windowing and its presets, MONOCHROME1.

The order is the standard's grayscale pipeline (PS3.4 N.2.1): stored values
-> Modality LUT (PS3.3 C.11.1: Rescale Slope/Intercept or a Modality LUT
Sequence, giving HU for CT) -> VOI LUT (PS3.3 C.11.2: a window, or a VOI LUT
Sequence) -> presentation. Model inputs are float32 in [0, 1], with higher
meaning brighter as in MONOCHROME2, so MONOCHROME1 data is inverted after the
VOI step.

>>> import numpy as np
>>> hu = np.array([-1000.0, -600.0, 150.0])
>>> [round(float(v), 3) for v in apply_voi(hu, *VoiPreset.LUNG.window)]
[0.233, 0.5, 1.0]
>>> VoiPreset.parse("soft_tissue").window
(40.0, 400.0)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from streamgale.dicom.pixels._groups import functional_group_item
from streamgale.errors import InvalidInstanceError

__all__ = [
    "DATASET_VOI",
    "VoiFunction",
    "VoiPreset",
    "Window",
    "apply_dataset_voi",
    "apply_modality_lut",
    "apply_voi",
    "invert_monochrome1",
    "rescale_parameters",
    "window_from_dataset",
]

FloatArray = npt.NDArray[np.float32]

DATASET_VOI: Literal["dataset"] = "dataset"
"""A ``voi`` setting meaning: use the window the instance states (:func:`window_from_dataset`)."""


class VoiFunction(enum.StrEnum):
    """VOI LUT Function (0028,1056) defined terms (PS3.3 C.11.2.1.3)."""

    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"

    @classmethod
    def parse(cls, value: VoiFunction | str) -> VoiFunction:
        """The function named ``value`` (any case); ValueError lists the allowed ones."""
        if isinstance(value, VoiFunction):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown VOI LUT Function {value!r}; allowed: {allowed}") from None


class VoiPreset(enum.StrEnum):
    """Named CT windows (center, width) in HU, for use with :func:`apply_voi`.

    LUNG, BRAIN, MEDIASTINUM/SOFT_TISSUE, LIVER and ABDOMEN are the usual
    reading-room presets. BONE uses W 1800 / L 400, the value Radiopaedia's
    "Windowing (CT)" article gives for bones (radiopaedia.org/articles/windowing-ct);
    W 1500 / L 300 is a common narrower alternative: pass a (center, width)
    tuple for that.
    """

    LUNG = "lung"
    MEDIASTINUM = "mediastinum"
    SOFT_TISSUE = "soft_tissue"
    BONE = "bone"
    BRAIN = "brain"
    LIVER = "liver"
    ABDOMEN = "abdomen"

    @classmethod
    def parse(cls, value: VoiPreset | str) -> VoiPreset:
        """The preset named ``value``: ``"lung"``, ``"LUNG"``, ``"soft-tissue"`` ...

        >>> VoiPreset.parse("Soft-Tissue") is VoiPreset.SOFT_TISSUE
        True
        """
        if isinstance(value, VoiPreset):
            return value
        try:
            return cls(str(value).strip().lower().replace("-", "_").replace(" ", "_"))
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown VOI preset {value!r}; allowed: {allowed}") from None

    @property
    def window(self) -> tuple[float, float]:
        """(Window Center, Window Width) in HU."""
        return _PRESET_WINDOWS[self.value]

    @property
    def window_center(self) -> float:
        """Window Center (0028,1050) in HU."""
        return self.window[0]

    @property
    def window_width(self) -> float:
        """Window Width (0028,1051) in HU."""
        return self.window[1]


_PRESET_WINDOWS = MappingProxyType(
    {
        "lung": (-600.0, 1500.0),
        "mediastinum": (40.0, 400.0),
        "soft_tissue": (40.0, 400.0),
        "bone": (400.0, 1800.0),
        "brain": (40.0, 80.0),
        "liver": (60.0, 160.0),
        "abdomen": (50.0, 350.0),
    }
)


class Window(NamedTuple):
    """A VOI window as a dataset states it (PS3.3 C.11.2.1.2)."""

    center: float
    width: float
    function: VoiFunction = VoiFunction.LINEAR


# Modality LUT ---------------------------------------------------------------------


def rescale_parameters(ds: Dataset, frame: int = 0) -> tuple[float, float]:
    """(Rescale Slope (0028,1053), Rescale Intercept (0028,1052)) for ``frame``.

    Looks at the top level, then at the Pixel Value Transformation Sequence
    (0028,9145) of the frame's Per-frame (5200,9230) and the Shared
    (5200,9229) Functional Groups of an enhanced multi-frame image. (1, 0)
    when none is given.

    >>> from streamgale.dicom.synthetic import ct_series
    >>> rescale_parameters(ct_series(slices=1, size=8)[0])
    (1.0, -1024.0)
    """
    item = ds if "RescaleSlope" in ds or "RescaleIntercept" in ds else None
    if item is None:
        item = functional_group_item(ds, frame, "PixelValueTransformationSequence")
    if item is None:
        return 1.0, 0.0
    try:
        slope = _number(item.get("RescaleSlope"), 1.0)
        intercept = _number(item.get("RescaleIntercept"), 0.0)
    except (TypeError, ValueError) as exc:
        raise InvalidInstanceError(
            f"Rescale Slope/Intercept (0028,1053)/(0028,1052) are not numbers "
            f"({item.get('RescaleSlope')!r}, {item.get('RescaleIntercept')!r})",
            sop_instance_uid=ds.get("SOPInstanceUID"),
        ) from exc
    return slope, intercept


def apply_modality_lut(arr: npt.ArrayLike, ds: Dataset) -> FloatArray:
    """Stored values -> modality values (HU for CT) as float32 (PS3.3 C.11.1).

    ``arr`` is one frame (rows, columns) or frames (frames, rows, columns), as
    :func:`~streamgale.dicom.pixels.decode_frames` returns them. A Modality LUT
    Sequence (0028,3000) is applied with pydicom's ``apply_modality_lut``;
    otherwise Rescale Slope and Intercept, per frame when an enhanced
    multi-frame image gives them per frame.

    >>> import numpy as np
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.RescaleSlope, ds.RescaleIntercept = 2, -1024
    >>> apply_modality_lut(np.array([[0, 1000]], dtype=np.uint16), ds).tolist()
    [[-1024.0, 976.0]]
    """
    values = np.asarray(arr)
    if ds.get("ModalityLUTSequence"):
        from pydicom.pixels.processing import apply_modality_lut as pydicom_modality_lut

        try:
            return np.asarray(pydicom_modality_lut(values, ds), dtype=np.float32)
        except Exception as exc:  # a malformed LUT Descriptor or LUT Data
            raise InvalidInstanceError(
                f"the Modality LUT Sequence (0028,3000) cannot be applied: {exc}",
                sop_instance_uid=ds.get("SOPInstanceUID"),
            ) from exc
    out = values.astype(np.float32)  # a new array: the input is never modified
    per_frame = out.ndim == 3 and "PerFrameFunctionalGroupsSequence" in ds
    planes = out if per_frame else out[np.newaxis]
    for index in range(planes.shape[0]):
        slope, intercept = rescale_parameters(ds, index)
        if slope != 1.0:
            planes[index] *= np.float32(slope)
        if intercept != 0.0:
            planes[index] += np.float32(intercept)
    return out


# VOI ------------------------------------------------------------------------------


def apply_voi(
    arr: npt.ArrayLike,
    center: float,
    width: float,
    *,
    function: VoiFunction | str = VoiFunction.LINEAR,
) -> FloatArray:
    """Window modality values into float32 [0, 1] (PS3.3 C.11.2.1.2 and C.11.2.1.3).

    * LINEAR: 0 where x <= c - 0.5 - (w-1)/2, 1 where x > c - 0.5 + (w-1)/2,
      else ((x - (c - 0.5)) / (w - 1) + 0.5); needs w >= 1.
    * LINEAR_EXACT: 0 where x <= c - w/2, 1 where x > c + w/2, else (x - c)/w + 0.5.
    * SIGMOID: 1 / (1 + exp(-4 (x - c) / w)).

    >>> apply_voi([-1, 39.5, 80], 40, 81).tolist()
    [0.0, 0.5, 1.0]
    >>> apply_voi([0, 40, 80], 40, 80, function="linear_exact").tolist()
    [0.0, 0.5, 1.0]
    """
    kind = VoiFunction.parse(function)
    x = np.asarray(arr, dtype=np.float32)
    center, width = float(center), float(width)
    if kind is VoiFunction.SIGMOID:
        _check_width(width, minimum=0.0, exclusive=True)
        out = np.multiply(x, np.float32(-4.0 / width))
        out += np.float32(4.0 * center / width)
        np.exp(out, out=out)
        out += np.float32(1.0)
        return np.reciprocal(out, out=out)
    if kind is VoiFunction.LINEAR:
        _check_width(width, minimum=1.0, exclusive=False)
        if width == 1.0:  # a step: the formula's (w - 1) would divide by zero
            return (x > np.float32(center - 0.5)).astype(np.float32)
        scale, offset = 1.0 / (width - 1.0), 0.5 - (center - 0.5) / (width - 1.0)
    else:
        _check_width(width, minimum=0.0, exclusive=True)
        scale, offset = 1.0 / width, 0.5 - center / width
    out = np.multiply(x, np.float32(scale))
    out += np.float32(offset)
    return np.clip(out, np.float32(0.0), np.float32(1.0), out=out)


def _check_width(width: float, *, minimum: float, exclusive: bool) -> None:
    if not np.isfinite(width) or width < minimum or (exclusive and width == minimum):
        bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
        raise ValueError(f"Window Width must be {bound} (PS3.3 C.11.2.1.2); got {width!r}")


def window_from_dataset(ds: Dataset, frame: int = 0) -> Window | None:
    """The window ``ds`` states for ``frame``, or None.

    Window Center (0028,1050) and Window Width (0028,1051) with VOI LUT
    Function (0028,1056), from the top level or from the Frame VOI LUT
    Sequence (0028,9132) of an enhanced multi-frame image. When several
    windows are given, the first is used (PS3.3 C.11.2.1.2 orders them by
    preference).

    >>> from streamgale.dicom.synthetic import ct_series
    >>> window_from_dataset(ct_series(slices=1, size=8)[0])
    Window(center=-600.0, width=1500.0, function=<VoiFunction.LINEAR: 'LINEAR'>)
    """
    item = ds if "WindowCenter" in ds else functional_group_item(ds, frame, "FrameVOILUTSequence")
    if item is None or "WindowCenter" not in item or "WindowWidth" not in item:
        return None
    try:
        center = float(_first(item.WindowCenter))
        width = float(_first(item.WindowWidth))
        function = VoiFunction.parse(item.get("VOILUTFunction") or VoiFunction.LINEAR)
        _check_width(width, minimum=0.0, exclusive=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInstanceError(
            f"the instance's VOI window cannot be used: {exc} (Window Center "
            f"{item.get('WindowCenter')!r}, Window Width {item.get('WindowWidth')!r})",
            sop_instance_uid=ds.get("SOPInstanceUID"),
        ) from exc
    return Window(center, width, function)


def apply_dataset_voi(arr: npt.ArrayLike, ds: Dataset) -> FloatArray:
    """Window modality values the way the instance itself asks, into [0, 1].

    ``arr`` is (frames, rows, columns) or one frame. Uses, in order: the
    stated window (:func:`window_from_dataset`, per frame where an enhanced
    image gives one per frame); the VOI LUT Sequence (0028,3010) via pydicom;
    else the full range of the values, as viewers do when nothing is stated.
    """
    values = np.asarray(arr, dtype=np.float32)
    frames = values if values.ndim == 3 else values[np.newaxis]
    out = np.empty(frames.shape, dtype=np.float32)
    for index, plane in enumerate(frames):
        window = window_from_dataset(ds, index)
        if window is not None:
            out[index] = apply_voi(plane, window.center, window.width, function=window.function)
        elif ds.get("VOILUTSequence"):
            out[index] = _apply_voi_lut_sequence(plane, ds)
        else:
            low, high = float(plane.min()), float(plane.max())
            out[index] = (plane - low) / (high - low) if high > low else 0.0
    return out if values.ndim == 3 else out[0]


def _apply_voi_lut_sequence(plane: FloatArray, ds: Dataset) -> FloatArray:
    from pydicom.pixels.processing import apply_voi_lut

    try:
        descriptor = ds.VOILUTSequence[0].LUTDescriptor
        mapped = apply_voi_lut(plane.round().astype(np.int32), ds, prefer_lut=True)
        return np.asarray(mapped, dtype=np.float32) / np.float32(2 ** int(descriptor[2]) - 1)
    except Exception as exc:  # a malformed LUT Descriptor or LUT Data
        raise InvalidInstanceError(
            f"the VOI LUT Sequence (0028,3010) cannot be applied: {exc}",
            sop_instance_uid=ds.get("SOPInstanceUID"),
        ) from exc


def invert_monochrome1(arr: npt.ArrayLike, photometric_interpretation: str) -> FloatArray:
    """Make [0, 1] values read as MONOCHROME2 (higher = brighter).

    MONOCHROME1 displays the minimum as white (PS3.3 C.7.6.3.1.2), so its
    windowed values are inverted; anything else is returned as float32.

    >>> invert_monochrome1([0.0, 0.25], "MONOCHROME1").tolist()
    [1.0, 0.75]
    """
    values = np.asarray(arr, dtype=np.float32)
    if str(photometric_interpretation).strip().upper() == "MONOCHROME1":
        return np.subtract(np.float32(1.0), values)
    return values


def _number(value: Any, default: float) -> float:
    """A DS/IS value as float; an absent or empty value (type 1C/3 left blank) is ``default``."""
    if value is None or value == "":
        return default
    return float(value)


def _first(value: Any) -> Any:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if not value:
            raise ValueError("the attribute is empty")
        return value[0]
    return value
