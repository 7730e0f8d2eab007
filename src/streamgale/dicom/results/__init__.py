"""AI results back where radiologists look: a JSON record, a DICOM SR and a DICOM SEG.

Every result is a :class:`StudyResult` (:mod:`.finding`, a versioned JSON
record). It is rendered into the source study as a Comprehensive 3D SR
measurement report (TID 1500, :func:`build_sr`) and, where the model segments,
a Segmentation (:func:`build_seg`), both built with highdicom. The objects go
into the same study, in new series, referencing the source images, and
:func:`validate_part10` checks them with pydicom, dcmtk and dicom3tools.

Call :func:`warm_up` once when a pipeline starts: highdicom loads its copy of
the standard on first use, which costs about a second.
"""

from __future__ import annotations

from streamgale.dicom.results._uids import seg_uids, sr_uids
from streamgale.dicom.results._warm import warm_up
from streamgale.dicom.results.checks import (
    check_result_object,
    dciodvfy_problems,
    dcmdump_problems,
    dsrdump_problems,
    read_part10_bytes,
    to_part10_bytes,
    validate_part10,
)
from streamgale.dicom.results.finding import SCHEMA_VERSION, Finding, Measurement, StudyResult
from streamgale.dicom.results.seg import (
    SegmentationType,
    build_seg,
    mask_measurements,
    upsample_mask,
)
from streamgale.dicom.results.sr import build_sr

__all__ = [
    "SCHEMA_VERSION",
    "Finding",
    "Measurement",
    "SegmentationType",
    "StudyResult",
    "build_seg",
    "build_sr",
    "check_result_object",
    "dciodvfy_problems",
    "dcmdump_problems",
    "dsrdump_problems",
    "mask_measurements",
    "read_part10_bytes",
    "seg_uids",
    "sr_uids",
    "to_part10_bytes",
    "upsample_mask",
    "validate_part10",
    "warm_up",
]
