"""Ingest: three doors (DIMSE C-STORE, STOW-RS, folder watch), one durable path.

Every door hands the bytes of an instance to :class:`InstanceStore`, which
stores them named by their SHA-256 with the preamble zeroed, dedupes by SOP
Instance UID, and publishes an :class:`InstanceEvent` to the log topic
``instances`` before the door acknowledges. When a sender is done (an
association released, a STOW-RS request ended, a folder batch scanned) the
door publishes a :class:`CompletionSignal`.

The DIMSE door is :class:`StorageSCP` (:mod:`~streamgale.dicom.ingest.scp`),
the folder door :class:`FolderWatcher` (:mod:`~streamgale.dicom.ingest.folder`).
"""

from streamgale.dicom.ingest.events import (
    CompletionSignal,
    InstanceEvent,
    Scope,
    Source,
    decode_event,
)
from streamgale.dicom.ingest.folder import FolderWatcher, ScanResult
from streamgale.dicom.ingest.scp import ConnectionInfo, ScpConfig, StorageSCP
from streamgale.dicom.ingest.store import InstanceStore, SopClassMismatchError, StoredInstance

__all__ = [
    "CompletionSignal",
    "ConnectionInfo",
    "FolderWatcher",
    "InstanceEvent",
    "InstanceStore",
    "ScanResult",
    "Scope",
    "ScpConfig",
    "SopClassMismatchError",
    "Source",
    "StorageSCP",
    "StoredInstance",
    "decode_event",
]
