"""The events ingest publishes to the durable log, one JSON object per record.

Every door (DIMSE C-STORE, STOW-RS, folder watch) ends in the same two kinds
of record on the ``instances`` topic:

* an :class:`InstanceEvent` once an instance is durably stored (its bytes on
  disk, named by their SHA-256, never by a DICOM value);
* a :class:`CompletionSignal` when a sender says it is done: an association
  released (PS3.8 7.2), a STOW-RS request ended (PS3.18 10.5), or a folder
  batch scanned. Study assembly uses it as the explicit completion signal.

Events round-trip through JSON exactly:

>>> signal = CompletionSignal(
...     scope="association", calling_ae="MODALITY", study_instance_uids=("1.2",),
...     series_instance_uids=("1.2.3",), sop_instance_uids=("1.2.3.4",), at=10.0)
>>> decode_event(signal.to_json()) == signal
True
>>> signal.to_json()[:45]
b'{"kind":"complete","scope":"association","cal'
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal, get_args

from streamgale.errors import DicomError

__all__ = [
    "CompletionSignal",
    "InstanceEvent",
    "Scope",
    "Source",
    "decode_event",
]

Source = Literal["dimse", "stow", "folder", "release"]
"""The door an instance came in by ("release": let out of quarantine by an operator)."""

Scope = Literal["association", "stow", "folder"]
"""What a completion signal closes: a DIMSE association, a STOW-RS request, a folder batch."""

_SOURCES: frozenset[str] = frozenset(get_args(Source))
_SCOPES: frozenset[str] = frozenset(get_args(Scope))


@dataclass(frozen=True)
class InstanceEvent:
    """One instance durably stored: who sent it, where its bytes are, how to route it.

    The UIDs and routing attributes are copied from the dataset: SOP Instance
    UID (0008,0018), SOP Class UID (0008,0016), Study Instance UID
    (0020,000D), Series Instance UID (0020,000E), Modality (0008,0060), Body
    Part Examined (0018,0015), Series Description (0008,103E) and Number of
    Frames (0028,0008, 1 when absent). ``transfer_syntax_uid`` is the one the
    stored file is encoded in (0002,0010). ``path`` is the stored Part-10 file,
    ``size`` its length and ``sha256`` the hex digest of its bytes.
    ``received_at`` is unix time in seconds.
    """

    KIND: ClassVar[str] = "instance"

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    modality: str | None
    body_part_examined: str | None
    series_description: str | None
    number_of_frames: int
    calling_ae: str | None
    source: Source
    path: str
    size: int
    sha256: str
    received_at: float

    def __post_init__(self) -> None:
        if self.source not in _SOURCES:
            allowed = ", ".join(sorted(_SOURCES))
            msg = f"instance event source {self.source!r} is not one of: {allowed}"
            raise DicomError(msg)

    def to_json(self) -> bytes:
        """The log record: a compact JSON object with ``"kind": "instance"``."""
        body = {name.name: getattr(self, name.name) for name in fields(InstanceEvent)}
        return _dump({"kind": self.KIND, **body})

    @classmethod
    def from_json(cls, data: bytes) -> InstanceEvent:
        """Parse a record written by :meth:`to_json`."""
        return _instance_from(_load(data, cls.KIND))


@dataclass(frozen=True)
class CompletionSignal:
    """A sender finished: the instances it sent in one association, request or batch.

    The UID tuples list each study, series and instance once, in arrival order.
    ``at`` is unix time in seconds.
    """

    KIND: ClassVar[str] = "complete"

    scope: Scope
    calling_ae: str | None
    study_instance_uids: tuple[str, ...]
    series_instance_uids: tuple[str, ...]
    sop_instance_uids: tuple[str, ...]
    at: float

    def __post_init__(self) -> None:
        if self.scope not in _SCOPES:
            allowed = ", ".join(sorted(_SCOPES))
            raise DicomError(f"completion scope {self.scope!r} is not one of: {allowed}")

    def to_json(self) -> bytes:
        """The log record: a compact JSON object with ``"kind": "complete"``."""
        body = asdict(self)
        for key in ("study_instance_uids", "series_instance_uids", "sop_instance_uids"):
            body[key] = list(body[key])
        return _dump({"kind": self.KIND, **body})

    @classmethod
    def from_json(cls, data: bytes) -> CompletionSignal:
        """Parse a record written by :meth:`to_json`."""
        return _signal_from(_load(data, cls.KIND))


def decode_event(data: bytes) -> InstanceEvent | CompletionSignal:
    """Parse any record of the ``instances`` topic, dispatching on its ``kind``.

    Raises :class:`~streamgale.errors.DicomError` for anything else.
    """
    obj = _load(data, None)
    if obj["kind"] == InstanceEvent.KIND:
        return _instance_from(obj)
    if obj["kind"] == CompletionSignal.KIND:
        return _signal_from(obj)
    msg = f"unknown ingest event kind {obj['kind']!r}; expected 'instance' or 'complete'"
    raise DicomError(msg)


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _load(data: bytes, kind: str | None) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DicomError(f"ingest event is not JSON ({exc}): {bytes(data[:80])!r}") from exc
    if not isinstance(obj, dict) or "kind" not in obj:
        raise DicomError(f"ingest event is not a JSON object with a 'kind': {bytes(data[:80])!r}")
    if kind is not None and obj["kind"] != kind:
        raise DicomError(f"expected an ingest event of kind {kind!r}, got {obj['kind']!r}")
    return obj


def _instance_from(obj: dict[str, Any]) -> InstanceEvent:
    names = [f.name for f in fields(InstanceEvent)]
    missing = [name for name in names if name not in obj]
    if missing:
        raise DicomError(f"instance event lacks {', '.join(missing)}: {obj!r}")
    return InstanceEvent(**{name: obj[name] for name in names})


def _signal_from(obj: dict[str, Any]) -> CompletionSignal:
    try:
        return CompletionSignal(
            scope=obj["scope"],
            calling_ae=obj["calling_ae"],
            study_instance_uids=tuple(obj["study_instance_uids"]),
            series_instance_uids=tuple(obj["series_instance_uids"]),
            sop_instance_uids=tuple(obj["sop_instance_uids"]),
            at=obj["at"],
        )
    except KeyError as exc:
        raise DicomError(f"completion signal lacks {exc.args[0]!r}: {obj!r}") from exc
