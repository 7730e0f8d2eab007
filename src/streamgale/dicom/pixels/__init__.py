"""Pixels to tensors: decode, modality LUT, VOI window, resample, normalise, volumes.

Everything a model needs between a DICOM instance and its input tensor, in the
order of the standard's grayscale pipeline (PS3.4 N.2.1). The one-call entry
points are :func:`preprocess_instance` and :func:`preprocess_series`, set up
by a frozen :class:`PreprocessConfig`; the steps are public too.

>>> from streamgale.dicom.synthetic import ct_series
>>> series = ct_series(slices=3, size=64)
>>> tensor, uids = preprocess_series(series[::-1], PreprocessConfig(size=(32, 32)))
>>> tensor.shape, uids == [ds.SOPInstanceUID for ds in series[::-1]]
((3, 1, 32, 32), True)
"""

from streamgale.dicom._deps import require_dicom

require_dicom("DICOM pixel processing")

from streamgale.dicom.pixels.decode import (  # noqa: E402
    decode_frame,
    decode_frames,
    number_of_frames,
    transfer_syntax,
)
from streamgale.dicom.pixels.lut import (  # noqa: E402
    DATASET_VOI,
    VoiFunction,
    VoiPreset,
    Window,
    apply_dataset_voi,
    apply_modality_lut,
    apply_voi,
    invert_monochrome1,
    rescale_parameters,
    window_from_dataset,
)
from streamgale.dicom.pixels.normalise import (  # noqa: E402
    Normalisation,
    minmax,
    standardise,
    zscore,
)
from streamgale.dicom.pixels.preprocess import (  # noqa: E402
    PREPROCESS_KEYS,
    PreprocessConfig,
    preprocess_instance,
    preprocess_series,
)
from streamgale.dicom.pixels.resample import (  # noqa: E402
    Interpolation,
    crop_or_pad,
    resample_spacing,
    resize,
    resize_axis,
    spacing_shape,
)
from streamgale.dicom.pixels.volume import (  # noqa: E402
    SeriesGeometry,
    Volume,
    assemble_volume,
    pixel_spacing,
    series_geometry,
    slice_normal,
)

__all__ = [
    "DATASET_VOI",
    "PREPROCESS_KEYS",
    "Interpolation",
    "Normalisation",
    "PreprocessConfig",
    "SeriesGeometry",
    "VoiFunction",
    "VoiPreset",
    "Volume",
    "Window",
    "apply_dataset_voi",
    "apply_modality_lut",
    "apply_voi",
    "assemble_volume",
    "crop_or_pad",
    "decode_frame",
    "decode_frames",
    "invert_monochrome1",
    "minmax",
    "number_of_frames",
    "pixel_spacing",
    "preprocess_instance",
    "preprocess_series",
    "resample_spacing",
    "rescale_parameters",
    "resize",
    "resize_axis",
    "series_geometry",
    "slice_normal",
    "spacing_shape",
    "standardise",
    "transfer_syntax",
    "window_from_dataset",
    "zscore",
]
