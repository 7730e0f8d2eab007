"""Validation and quarantine: every input ends processed, quarantined with a reason, or refused.

:func:`validate_bytes` and :func:`validate_instance` decide whether an
instance is fit to process; :class:`QuarantineStore` keeps, with their
original bytes and a human-readable reason, the inputs that are not (or that
failed later, in decoding, de-identification, inference or delivery) until
an operator releases or discards them (``streamgale quarantine``).

The quarantine store needs no DICOM libraries; validation needs the
``dicom`` extra and imports it when first used.
"""

from streamgale.dicom.quality.inflate import check_inflated_size
from streamgale.dicom.quality.quarantine import (
    QuarantineEntry,
    QuarantineError,
    QuarantineSource,
    QuarantineStage,
    QuarantineStatus,
    QuarantineStore,
)
from streamgale.dicom.quality.summary import InstanceSummary, summarize
from streamgale.dicom.quality.validate import (
    ValidationLimits,
    peek_uids,
    validate_bytes,
    validate_instance,
)

__all__ = [
    "InstanceSummary",
    "QuarantineEntry",
    "QuarantineError",
    "QuarantineSource",
    "QuarantineStage",
    "QuarantineStatus",
    "QuarantineStore",
    "ValidationLimits",
    "check_inflated_size",
    "peek_uids",
    "summarize",
    "validate_bytes",
    "validate_instance",
]
