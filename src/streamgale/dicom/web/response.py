"""The STOW-RS Store Instances Response Module in DICOM JSON (PS3.18 10.5.3, Annex I).

Both ends use this module: the server writes the response with
:meth:`StoreInstancesResponse.to_json` and the client reads it back with
:meth:`StoreInstancesResponse.from_json`. The attributes (PS3.18 Table I.1-1):

==================================  ===========  =========================================
Retrieve URL                        (0008,1190)  Type 2: present and empty, because
                                                 StreamGale serves no WADO-RS
Referenced SOP Sequence             (0008,1199)  one item per stored instance: Referenced
                                                 SOP Class/Instance UID (0008,1150/1155),
                                                 Retrieve URL (empty)
Failed SOP Sequence                 (0008,1198)  one item per refused instance whose UIDs
                                                 could be read: the UIDs and Failure
                                                 Reason (0008,1197)
Other Failures Sequence             (0008,119A)  one item per refused body part whose
                                                 UIDs could not be read (not a DICOM file):
                                                 Failure Reason only, since the SOP
                                                 Instance Reference Macro is Type 1
==================================  ===========  =========================================

The standard has no attribute for a human-readable reason in these items, so
each failure item also carries a private text element: private creator
``"STREAMGALE"`` in (0009,0010) and the reason in (0009,1001), VR UT. Readers
that do not know it ignore it, as PS3.5 7.8 requires.

>>> response = StoreInstancesResponse(
...     referenced=(InstanceReference("1.2.3", "1.2.3.4"),),
...     failed=(InstanceFailure("1.2.3", "1.2.3.5", FailureReason.CANNOT_UNDERSTAND, "bad"),),
... )
>>> response.http_status
202
>>> StoreInstancesResponse.from_json(response.to_json()) == response
True
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PRIVATE_CREATOR",
    "FailureReason",
    "InstanceFailure",
    "InstanceReference",
    "StoreInstancesResponse",
]

PRIVATE_CREATOR = "STREAMGALE"
"""Private creator of the reason text element (0009,xx01) in failure items."""

_RETRIEVE_URL = "00081190"
_REFERENCED_SOP_SEQUENCE = "00081199"
_FAILED_SOP_SEQUENCE = "00081198"
_OTHER_FAILURES_SEQUENCE = "0008119A"
_REFERENCED_SOP_CLASS_UID = "00081150"
_REFERENCED_SOP_INSTANCE_UID = "00081155"
_FAILURE_REASON = "00081197"
_WARNING_REASON = "00081196"
_CREATOR_TAG = "00090010"
_REASON_TEXT_TAG = "00091001"


class FailureReason(enum.IntEnum):
    """Failure Reason (0008,1197) values of PS3.18 Table I.2-2 that StreamGale sends."""

    REFUSED_OUT_OF_RESOURCES = 0xA700
    """A7xx: the server ran out of resources (disk full)."""
    DATA_SET_DOES_NOT_MATCH = 0xA900
    """A9xx: here, an instance sent to a study URL belongs to another study."""
    CANNOT_UNDERSTAND = 0xC000
    """Cxxx: not a usable DICOM instance (validation failed, not DICOM at all)."""
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122
    PROCESSING_FAILURE = 0x0110
    """A general failure while storing (an unexpected error on the server)."""
    SOP_CLASS_NOT_SUPPORTED = 0x0122


@dataclass(frozen=True)
class InstanceReference:
    """An instance the server stored (an item of Referenced SOP Sequence)."""

    sop_class_uid: str
    sop_instance_uid: str
    warning_reason: int | None = None
    """Warning Reason (0008,1196), when the instance was stored with a warning."""


@dataclass(frozen=True)
class InstanceFailure:
    """An instance or body part the server did not store, and why.

    ``sop_class_uid`` and ``sop_instance_uid`` are None for a body part that
    could not be read as DICOM (an Other Failures Sequence item).
    """

    sop_class_uid: str | None
    sop_instance_uid: str | None
    reason: int
    text: str = ""


@dataclass(frozen=True)
class StoreInstancesResponse:
    """What a Studies Store Transaction stored and refused (PS3.18 Annex I)."""

    referenced: tuple[InstanceReference, ...] = ()
    failed: tuple[InstanceFailure, ...] = ()

    @property
    def http_status(self) -> int:
        """The status PS3.18 Table 10.5.3-1 gives this outcome.

        200 when everything was stored, 202 when some instances failed or
        carry warnings, 409 when nothing was stored; 507 (Insufficient
        Storage, RFC 4918) when nothing was stored because the disk is full,
        so a sender knows to retry later rather than fix its data.
        """
        if not self.referenced:
            full = FailureReason.REFUSED_OUT_OF_RESOURCES
            if self.failed and all(f.reason == full for f in self.failed):
                return 507
            return 409
        warned = any(ref.warning_reason is not None for ref in self.referenced)
        return 202 if self.failed or warned else 200

    def to_json(self) -> dict[str, Any]:
        """The response as a DICOM JSON object (PS3.18 F.2)."""
        out: dict[str, Any] = {_RETRIEVE_URL: {"vr": "UR"}}
        identified = [f for f in self.failed if f.sop_instance_uid is not None]
        unidentified = [f for f in self.failed if f.sop_instance_uid is None]
        if identified:
            out[_FAILED_SOP_SEQUENCE] = _sequence([_failure_item(f) for f in identified])
        if unidentified:
            out[_OTHER_FAILURES_SEQUENCE] = _sequence([_failure_item(f) for f in unidentified])
        if self.referenced:
            out[_REFERENCED_SOP_SEQUENCE] = _sequence([_reference_item(r) for r in self.referenced])
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoreInstancesResponse:
        """Read a DICOM JSON Store Instances Response (ours or another server's).

        Raises :class:`ValueError` when ``data`` is not a DICOM JSON object.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a Store Instances Response is a JSON object, got {type(data)}")
        referenced = tuple(
            InstanceReference(
                _string(item, _REFERENCED_SOP_CLASS_UID) or "",
                _string(item, _REFERENCED_SOP_INSTANCE_UID) or "",
                _number(item, _WARNING_REASON),
            )
            for item in _items(data, _REFERENCED_SOP_SEQUENCE)
        )
        failed = tuple(
            InstanceFailure(
                _string(item, _REFERENCED_SOP_CLASS_UID),
                _string(item, _REFERENCED_SOP_INSTANCE_UID),
                _number(item, _FAILURE_REASON) or 0,
                _reason_text(item),
            )
            for tag in (_FAILED_SOP_SEQUENCE, _OTHER_FAILURES_SEQUENCE)
            for item in _items(data, tag)
        )
        return cls(referenced, failed)


def _sequence(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"vr": "SQ", "Value": items}


def _reference_item(ref: InstanceReference) -> dict[str, Any]:
    item: dict[str, Any] = {
        _REFERENCED_SOP_CLASS_UID: {"vr": "UI", "Value": [ref.sop_class_uid]},
        _REFERENCED_SOP_INSTANCE_UID: {"vr": "UI", "Value": [ref.sop_instance_uid]},
        _RETRIEVE_URL: {"vr": "UR"},
    }
    if ref.warning_reason is not None:
        item[_WARNING_REASON] = {"vr": "US", "Value": [ref.warning_reason]}
    return item


def _failure_item(failure: InstanceFailure) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if failure.sop_instance_uid is not None:
        item[_REFERENCED_SOP_CLASS_UID] = {"vr": "UI", "Value": [failure.sop_class_uid or ""]}
        item[_REFERENCED_SOP_INSTANCE_UID] = {"vr": "UI", "Value": [failure.sop_instance_uid]}
    item[_FAILURE_REASON] = {"vr": "US", "Value": [int(failure.reason)]}
    if failure.text:
        item[_CREATOR_TAG] = {"vr": "LO", "Value": [PRIVATE_CREATOR]}
        item[_REASON_TEXT_TAG] = {"vr": "UT", "Value": [failure.text]}
    return item


def _items(data: Mapping[str, Any], tag: str) -> list[Mapping[str, Any]]:
    element = data.get(tag) or {}
    values = element.get("Value", []) if isinstance(element, Mapping) else []
    return [item for item in values if isinstance(item, Mapping)]


def _value(item: Mapping[str, Any], tag: str) -> Any:
    element = item.get(tag)
    if not isinstance(element, Mapping):
        return None
    values = element.get("Value") or [None]
    return values[0]


def _string(item: Mapping[str, Any], tag: str) -> str | None:
    value = _value(item, tag)
    return str(value) if value is not None else None


def _number(item: Mapping[str, Any], tag: str) -> int | None:
    value = _value(item, tag)
    return int(value) if value is not None else None


def _reason_text(item: Mapping[str, Any]) -> str:
    """The reason text in our private block, wherever its creator reserved it."""
    for block in range(0x10, 0x100):
        if _value(item, f"0009{block:04X}") == PRIVATE_CREATOR:
            return _string(item, f"0009{block:02X}01") or ""
    return ""
