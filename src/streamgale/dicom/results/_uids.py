"""Deterministic UIDs for result objects, so a result re-rendered is the same object.

All are ``pydicom.uid.generate_uid`` under pydicom's root with a fixed entropy
source (PS3.5 section 9: a UID must be unique, not random); the parts say what
the UID identifies.

>>> sr_uids("1.2.3", "demo", "r-1", 1) == sr_uids("1.2.3", "demo", "r-1", 1)
True
"""

from __future__ import annotations

__all__ = ["device_uid", "seg_uids", "sr_uids", "tracking_uid", "uid"]


def uid(*parts: str) -> str:
    """A UID determined by ``parts``."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["streamgale", *parts]))


def sr_uids(
    study_instance_uid: str, model_name: str, result_id: str, version: int
) -> tuple[str, str]:
    """(Series Instance UID, SOP Instance UID) of the SR for one result version.

    The series is one per study and model, so versions stack up in one series
    (Instance Number = version); the instance is one per result version.

    >>> a = sr_uids("1.2.3", "demo", "r-1", 1)
    >>> b = sr_uids("1.2.3", "demo", "r-2", 2)
    >>> a[0] == b[0], a[1] == b[1]
    (True, False)
    """
    return (
        uid("sr-series", study_instance_uid, model_name),
        uid("sr", result_id, str(version)),
    )


def seg_uids(
    study_instance_uid: str, model_name: str, source_series_uid: str, seed: str | None
) -> tuple[str, str]:
    """(Series Instance UID, SOP Instance UID) of a SEG of one source series.

    Without a ``seed`` (for example the result id and version) the SOP
    Instance UID is random.
    """
    from pydicom.uid import generate_uid

    series = uid("seg-series", study_instance_uid, model_name, source_series_uid)
    sop = uid("seg", seed, source_series_uid) if seed else str(generate_uid())
    return series, sop


def tracking_uid(study_instance_uid: str, model_name: str, label: str) -> str:
    """Tracking Unique Identifier (DCM 112040) of a finding, shared by its SR group and segment."""
    return uid("tracking", study_instance_uid, model_name, label.strip().lower())


def device_uid(model_name: str, model_version: str) -> str:
    """Device Observer UID (DCM 121012) of a model version."""
    return uid("device", model_name, model_version)
