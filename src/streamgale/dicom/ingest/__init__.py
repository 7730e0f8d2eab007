"""Ingest: three doors (DIMSE C-STORE, STOW-RS, folder watch), one durable path.

Every door hands the bytes of an instance to :class:`InstanceStore`, which
stores them named by their SHA-256 with the preamble zeroed, dedupes by SOP
Instance UID, and publishes an :class:`InstanceEvent` to the log topic
``instances`` before the door acknowledges. When a sender is done (an
association released, a STOW-RS request ended, a folder batch scanned) the
door publishes a :class:`CompletionSignal`.
"""

from streamgale.dicom.ingest.events import (
    CompletionSignal,
    InstanceEvent,
    Scope,
    Source,
    decode_event,
)
from streamgale.dicom.ingest.store import InstanceStore, SopClassMismatchError, StoredInstance

__all__ = [
    "CompletionSignal",
    "InstanceEvent",
    "InstanceStore",
    "Scope",
    "SopClassMismatchError",
    "Source",
    "StoredInstance",
    "decode_event",
]
