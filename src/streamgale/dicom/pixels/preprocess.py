"""One call from a DICOM instance (or series) to a model-ready float tensor.

The steps, in the order of the standard's grayscale pipeline (PS3.4 N.2.1):

1. decode every frame (:mod:`~streamgale.dicom.pixels.decode`);
2. modality LUT, giving HU for CT (PS3.3 C.11.1);
3. VOI window to [0, 1] (PS3.3 C.11.2), a preset, a (center, width) or the
   instance's own window, with MONOCHROME1 inverted so higher is brighter;
   colour images become BT.601 luminance in [0, 1] instead (VOI is grayscale only);
4. optionally resample to a pixel spacing in mm, then fit to ``size`` by
   centre crop/pad (keeping the spacing); or, without a spacing, resize to ``size``;
5. normalise (none, per-image min-max or z-score, or a model's fixed mean/std);
6. lay out as (frames, 1, H, W) (or (frames, H, W, 1)) in the model's dtype.

A 512x512 16-bit CT takes a few milliseconds (see ``tests/dicom/pixels``).

>>> from streamgale.dicom.synthetic import ct_series
>>> ds = ct_series(slices=1, size=64)[0]
>>> config = PreprocessConfig(voi="lung", size=(32, 32))
>>> tensor = preprocess_instance(ds, config)
>>> tensor.shape, tensor.dtype.name, 0.0 <= float(tensor.min()) <= float(tensor.max()) <= 1.0
((1, 1, 32, 32), 'float32', True)
>>> PreprocessConfig(normalise="median")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
streamgale.errors.ConfigError: key 'normalise': got 'median'; allowed: none, minmax, zscore, \
or a (mean, std) pair / {mean, std} mapping
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from streamgale.dicom.pixels._checks import (
    DTYPES,
    check_dims,
    check_normalise,
    check_voi,
    parse_choice,
)
from streamgale.dicom.pixels.decode import decode_frames, number_of_frames
from streamgale.dicom.pixels.lut import (
    VoiFunction,
    VoiPreset,
    apply_dataset_voi,
    apply_modality_lut,
    apply_voi,
)
from streamgale.dicom.pixels.normalise import Normalisation, minmax, standardise, zscore
from streamgale.dicom.pixels.resample import (
    Interpolation,
    crop_or_pad,
    resample_spacing,
    resize,
    resize_axis,
)
from streamgale.dicom.pixels.volume import pixel_spacing, series_geometry
from streamgale.errors import ConfigError, InvalidInstanceError

__all__ = [
    "PREPROCESS_KEYS",
    "PreprocessConfig",
    "preprocess_instance",
    "preprocess_series",
]

FloatArray = npt.NDArray[np.float32]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma weights


@dataclass(frozen=True)
class PreprocessConfig:
    """What a model wants its input to look like; frozen and validated on creation.

    Each field accepts an enum or its string (or, for pairs, a tuple or a
    mapping), converted once here; a bad value raises
    :class:`~streamgale.errors.ConfigError` naming the key and the allowed values.

    * ``voi``: a :class:`VoiPreset` (``"lung"``...), ``(center, width)`` or
      ``{center, width}`` in modality units (HU for CT), or ``"dataset"``.
    * ``size``: output (rows, columns), or (slices, rows, columns) where the
      slice count applies to :func:`preprocess_series` only; None keeps the size.
    * ``normalise``: ``"none"``, ``"minmax"``, ``"zscore"`` (per image) or
      ``(mean, std)`` / ``{mean, std}``.
    * ``spacing``: target mm per pixel: one number, (row, column), or
      (slice, row, column) where the slice spacing applies to series only.
      With ``size`` too, the resampled image is centre-cropped or padded.
    * ``channels_first``: (frames, 1, H, W) if true, else (frames, H, W, 1).
    * ``dtype``: float32 (default), float16 or float64.
    * ``voi_function``: VOI LUT Function (0028,1056) for a preset or pair.
    * ``interpolation``: ``"bilinear"`` (default), ``"area"`` or ``"nearest"``.
    """

    voi: VoiPreset | tuple[float, float] | Mapping[str, float] | str = VoiPreset.LUNG
    size: Sequence[int] | None = (128, 128)
    normalise: Normalisation | tuple[float, float] | Mapping[str, float] | str = Normalisation.NONE
    spacing: float | Sequence[float] | None = None
    channels_first: bool = True
    dtype: str = "float32"
    voi_function: VoiFunction | str = VoiFunction.LINEAR
    interpolation: Interpolation | str = Interpolation.BILINEAR

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise once, here
        put(self, "voi", check_voi(self.voi))
        put(self, "size", check_dims(self.size, "size", integer=True))
        put(self, "normalise", check_normalise(self.normalise))
        spacing = self.spacing
        if isinstance(spacing, int | float) and not isinstance(spacing, bool):
            spacing = (spacing, spacing)
        put(self, "spacing", check_dims(spacing, "spacing", integer=False))
        if not isinstance(self.channels_first, bool):
            raise ConfigError(
                f"expected true or false; got {self.channels_first!r}", key="channels_first"
            )
        if self.dtype not in DTYPES:
            raise ConfigError(f"got {self.dtype!r}; allowed: {', '.join(DTYPES)}", key="dtype")
        choices: tuple[tuple[str, Any], ...] = (
            ("voi_function", VoiFunction.parse),
            ("interpolation", Interpolation.parse),
        )
        for key, parse in choices:
            put(self, key, parse_choice(parse, getattr(self, key), key))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PreprocessConfig:
        """Build from plain values (parsed YAML or JSON); unknown keys are refused.

        >>> PreprocessConfig.from_mapping({"voi": {"center": 40, "width": 400}}).voi
        (40.0, 400.0)
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"preprocessing is a mapping; got {type(data).__name__}")
        for name in data:
            if name not in PREPROCESS_KEYS:
                raise ConfigError(
                    f"unknown key '{name}'; allowed: {', '.join(PREPROCESS_KEYS)}", key=str(name)
                )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for YAML or JSON; :meth:`from_mapping` reads them back."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            out[item.name] = list(value) if isinstance(value, tuple) else value
            if isinstance(value, enum.Enum):
                out[item.name] = value.value
        return out


PREPROCESS_KEYS = tuple(item.name for item in fields(PreprocessConfig))
"""The keys a ``preprocessing:`` mapping may have."""


def preprocess_instance(ds: Dataset, config: PreprocessConfig) -> npt.NDArray[Any]:
    """All frames of ``ds`` as a model input, shaped (frames, 1, H, W).

    Raises :class:`~streamgale.errors.PixelDecodeError` when the pixels
    cannot be decoded and :class:`~streamgale.errors.InvalidInstanceError`
    when the instance cannot be prepared as configured (no Pixel Spacing but
    a spacing is asked for, a malformed LUT or window); both mean quarantine.
    """
    images = _grey(decode_frames(ds), ds, config)
    return _finish(_in_plane(images, ds, config), config)


def preprocess_series(
    datasets: Sequence[Dataset], config: PreprocessConfig
) -> tuple[npt.NDArray[Any], list[str]]:
    """A series (or one multi-frame instance) as (slices, 1, H, W) in patient-position order.

    Slices are ordered and checked as
    :func:`~streamgale.dicom.pixels.assemble_volume` does. Returns the
    tensor and the SOP Instance UIDs of the source instances in that order
    (one per slice unless a 3-value ``size`` or ``spacing`` resampled the
    slice axis).
    """
    geometry = series_geometry(datasets)
    if len(datasets) == 1 and number_of_frames(datasets[0]) > 1:
        ds = datasets[0]
        # Window before reordering: per-frame rescale and windows follow stored order.
        images = _grey(decode_frames(ds), ds, config)[list(geometry.order)]
        uids = [str(ds.get("SOPInstanceUID", ""))] * len(geometry.order)
    else:
        ordered = geometry.ordered(datasets)
        images = np.empty((len(ordered), *geometry.shape), dtype=np.float32)
        for index, ds in enumerate(ordered):
            images[index] = _grey(decode_frames(ds), ds, config)[0]
        uids = [str(ds.get("SOPInstanceUID", "")) for ds in ordered]
    images = _in_plane(images, datasets[0], config)
    images = _through_plane(images, geometry.spacing[0], config)
    return _finish(images, config), uids


def _grey(frames: npt.NDArray[Any], ds: Dataset, config: PreprocessConfig) -> FloatArray:
    """(frames, rows, columns) in [0, 1], higher = brighter."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if frames.ndim == 4 or photometric == "PALETTE COLOR":
        return _luminance(frames, ds, photometric)
    values = apply_modality_lut(frames, ds)
    window = _window(config)
    if window is None:
        out = apply_dataset_voi(values, ds)
    else:
        out = apply_voi(values, *window, function=config.voi_function)
    if photometric == "MONOCHROME1":  # minimum is white (PS3.3 C.7.6.3.1.2)
        np.subtract(np.float32(1.0), out, out=out)
    return out


def _luminance(frames: npt.NDArray[Any], ds: Dataset, photometric: str) -> FloatArray:
    """Colour frames as BT.601 luma in [0, 1]; a palette is looked up first (PS3.3 C.7.9)."""
    rgb = frames
    if photometric == "PALETTE COLOR":
        from pydicom.pixels.processing import apply_color_lut

        try:
            rgb = apply_color_lut(frames, ds)
        except Exception as exc:  # malformed palette descriptors or data
            raise InvalidInstanceError(
                f"the PALETTE COLOR lookup table cannot be applied: {exc}",
                sop_instance_uid=ds.get("SOPInstanceUID"),
            ) from exc
    if np.issubdtype(rgb.dtype, np.integer):
        bits = int(ds.get("BitsStored") or 8) if rgb is frames else rgb.dtype.itemsize * 8
        top = float(2 ** min(bits, rgb.dtype.itemsize * 8) - 1)
    else:
        top = 1.0
    luma = rgb.astype(np.float32) @ _LUMA
    luma *= np.float32(1.0 / top)
    return np.clip(luma, np.float32(0.0), np.float32(1.0), out=luma)


def _in_plane(images: FloatArray, ds: Dataset, config: PreprocessConfig) -> FloatArray:
    size = _size(config)
    method = Interpolation.parse(config.interpolation)
    if config.spacing is not None:
        target = tuple(config.spacing)[-2:]  # type: ignore[arg-type]
        source = pixel_spacing(ds)
        if source is None:
            raise InvalidInstanceError(
                f"the model wants {target[0]:g} x {target[1]:g} mm pixels but the instance "
                "has no Pixel Spacing (0028,0030) to resample from; route it to a model "
                "without 'spacing' or fix the sender",
                sop_instance_uid=ds.get("SOPInstanceUID"),
            )
        images = resample_spacing(images, source, target, method=method)
        return crop_or_pad(images, size) if size is not None else images
    if size is not None and images.shape[-2:] != size:
        return resize(images, size, method=method)
    return images


def _through_plane(images: FloatArray, gap: float, config: PreprocessConfig) -> FloatArray:
    """Resample and fit the slice axis when ``spacing`` or ``size`` has three values."""
    method = Interpolation.parse(config.interpolation)
    spacing = tuple(config.spacing) if config.spacing is not None else ()  # type: ignore[arg-type]
    slices = int(config.size[0]) if config.size is not None and len(config.size) == 3 else None
    if len(spacing) == 3:
        if not gap > 0:
            raise InvalidInstanceError(
                f"the model wants {spacing[0]:g} mm between slices but the series' slice "
                "spacing is unknown (one slice, and no Spacing Between Slices (0018,0088) "
                "or Slice Thickness (0018,0050))"
            )
        count = max(1, round(images.shape[0] * gap / float(spacing[0])))
        images = resize_axis(images, count, axis=0, method=method)
        if slices is not None:
            fitted = crop_or_pad(np.moveaxis(images, 0, -2), (slices, images.shape[-1]))
            images = np.ascontiguousarray(np.moveaxis(fitted, -2, 0))
    elif slices is not None and images.shape[0] != slices:
        images = resize_axis(images, slices, axis=0, method=method)
    return images


def _finish(images: FloatArray, config: PreprocessConfig) -> npt.NDArray[Any]:
    normalise = config.normalise
    if isinstance(normalise, tuple):
        images = standardise(images, mean=normalise[0], std=normalise[1])
    elif normalise == Normalisation.MINMAX:
        images = minmax(images)
    elif normalise == Normalisation.ZSCORE:
        images = zscore(images)
    shaped = images[:, np.newaxis] if config.channels_first else images[..., np.newaxis]
    return np.ascontiguousarray(shaped, dtype=np.dtype(config.dtype))


def _window(config: PreprocessConfig) -> tuple[float, float] | None:
    """(center, width) of the configured window; None for the instance's own."""
    voi = config.voi
    if isinstance(voi, VoiPreset):
        return voi.window
    if isinstance(voi, tuple):
        return voi[0], voi[1]
    return None


def _size(config: PreprocessConfig) -> tuple[int, int] | None:
    if config.size is None:
        return None
    rows, columns = tuple(config.size)[-2:]
    return int(rows), int(columns)
