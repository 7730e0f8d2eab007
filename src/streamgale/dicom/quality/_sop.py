"""Image Storage SOP classes (PS3.4 B.5, PS3.6 Annex A): the ones that must carry pixels.

An instance of one of these classes without Pixel Data (7FE0,0010) is
malformed whatever the validation limits say; other classes (SR, RT Plan,
waveforms, presentation states) carry no image and are accepted only when
:class:`~streamgale.dicom.quality.ValidationLimits` has ``require_pixels=False``.
"""

from __future__ import annotations

__all__ = ["IMAGE_STORAGE_SOP_CLASSES", "SEGMENTATION_STORAGE", "is_image_storage"]

_STORAGE = "1.2.840.10008.5.1.4.1.1."

SEGMENTATION_STORAGE = _STORAGE + "66.4"
"""Segmentation Storage: an image class, but a result over other images, not a model's input."""

IMAGE_STORAGE_SOP_CLASSES = frozenset(
    _STORAGE + suffix
    for suffix in (
        "1",  # Computed Radiography Image Storage
        "1.1",  # Digital X-Ray Image Storage - For Presentation
        "1.1.1",  # Digital X-Ray Image Storage - For Processing
        "1.2",  # Digital Mammography X-Ray Image Storage - For Presentation
        "1.2.1",  # Digital Mammography X-Ray Image Storage - For Processing
        "1.3",  # Digital Intra-Oral X-Ray Image Storage - For Presentation
        "1.3.1",  # Digital Intra-Oral X-Ray Image Storage - For Processing
        "2",  # CT Image Storage
        "2.1",  # Enhanced CT Image Storage
        "2.2",  # Legacy Converted Enhanced CT Image Storage
        "3.1",  # Ultrasound Multi-frame Image Storage
        "4",  # MR Image Storage
        "4.1",  # Enhanced MR Image Storage
        "4.3",  # Enhanced MR Color Image Storage
        "4.4",  # Legacy Converted Enhanced MR Image Storage
        "6.1",  # Ultrasound Image Storage
        "6.2",  # Enhanced US Volume Storage
        "7",  # Secondary Capture Image Storage
        "7.1",  # Multi-frame Single Bit Secondary Capture Image Storage
        "7.2",  # Multi-frame Grayscale Byte Secondary Capture Image Storage
        "7.3",  # Multi-frame Grayscale Word Secondary Capture Image Storage
        "7.4",  # Multi-frame True Color Secondary Capture Image Storage
        "12.1",  # X-Ray Angiographic Image Storage
        "12.1.1",  # Enhanced XA Image Storage
        "12.2",  # X-Ray Radiofluoroscopic Image Storage
        "12.2.1",  # Enhanced XRF Image Storage
        "13.1.1",  # X-Ray 3D Angiographic Image Storage
        "13.1.2",  # X-Ray 3D Craniofacial Image Storage
        "13.1.3",  # Breast Tomosynthesis Image Storage
        "13.1.4",  # Breast Projection X-Ray Image Storage - For Presentation
        "13.1.5",  # Breast Projection X-Ray Image Storage - For Processing
        "14",  # Intravascular OCT Image Storage - For Presentation
        "14.1",  # Intravascular OCT Image Storage - For Processing
        "20",  # Nuclear Medicine Image Storage
        "30",  # Parametric Map Storage
        "66.4",  # Segmentation Storage
        "77.1.1",  # VL Endoscopic Image Storage
        "77.1.2",  # VL Microscopic Image Storage
        "77.1.3",  # VL Slide-Coordinates Microscopic Image Storage
        "77.1.4",  # VL Photographic Image Storage
        "77.1.5.1",  # Ophthalmic Photography 8 Bit Image Storage
        "77.1.5.2",  # Ophthalmic Photography 16 Bit Image Storage
        "77.1.5.4",  # Ophthalmic Tomography Image Storage
        "77.1.6",  # VL Whole Slide Microscopy Image Storage
        "128",  # Positron Emission Tomography Image Storage
        "128.1",  # Legacy Converted Enhanced PET Image Storage
        "130",  # Enhanced PET Image Storage
        "481.1",  # RT Image Storage
    )
)


def is_image_storage(sop_class_uid: str) -> bool:
    """Whether instances of this SOP class carry an image.

    >>> is_image_storage("1.2.840.10008.5.1.4.1.1.2")  # CT Image Storage
    True
    >>> is_image_storage("1.2.840.10008.5.1.4.1.1.88.11")  # Basic Text SR Storage
    False
    """
    return sop_class_uid in IMAGE_STORAGE_SOP_CLASSES
