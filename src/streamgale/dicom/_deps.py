"""Import guards: DICOM code needs the ``dicom`` extra, and says so when it is missing."""

from __future__ import annotations

from streamgale.errors import MissingExtraError

__all__ = ["require_dicom"]


def require_dicom(feature: str = "DICOM support") -> None:
    """Raise :class:`MissingExtraError` naming the ``dicom`` extra if pydicom is absent."""
    try:
        import pydicom  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(feature, "dicom", "pydicom") from exc
