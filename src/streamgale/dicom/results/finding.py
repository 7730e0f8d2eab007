"""The JSON result record: what a model found in a study, versioned.

Every AI result is first of all one :class:`StudyResult`; the DICOM SR and SEG
objects (:mod:`.sr`, :mod:`.seg`) are renderings of it. The record is plain
data with a stable JSON form, so results can be listed, diffed and re-rendered
without touching DICOM.

A study that gains a late series is analysed again. The new result does not
silently replace the old one: it has ``version`` = previous + 1 and names the
result it ``supersedes`` (its DICOM SR then points at the previous SR through
the Predecessor Documents Sequence (0040,A360)).

JSON schema (``schema_version`` 1). Keys are sorted; floats are JSON numbers;
``created_at`` is ISO 8601 with a UTC offset::

    {
      "schema_version": 1,
      "result_id": "r-...",                 # unique per version
      "version": 1,                         # 1, 2, ... per study and model
      "supersedes": null,                   # result_id of version - 1, or null
      "study_instance_uid": "1.2...",       # (0020,000D) of the source study
      "series_instance_uids": ["1.2..."],   # (0020,000E) of the series analysed
      "model": {"name": "demo-lesion", "version": "1.0.0"},
      "created_at": "2026-01-01T08:30:00+00:00",
      "timings_ms": {"decode": 3.1, "infer": 12.0},   # per pipeline stage
      "findings": [
        {
          "label": "lesion",
          "probability": 0.93,              # 0..1
          "present": true,                  # probability >= the model's threshold
          "measurements": {                 # key -> measurement
            "area": {"value": 78.5, "unit": "mm2", "name": "Area"}
          },
          "source_sop_instance_uids": ["1.2..."]   # (0008,0018) of the images
        }
      ]
    }

Readers must reject a ``schema_version`` they do not know; new optional keys
are added without changing it, removed or retyped keys change it.

>>> import datetime as dt
>>> result = StudyResult(
...     result_id="r-1", study_instance_uid="1.2.3", series_instance_uids=("1.2.3.4",),
...     model_name="demo", model_version="1", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
...     findings=(Finding("lesion", 0.9, True, {"area": Measurement(12.5, "mm2", "Area")},
...                       ("1.2.3.4.5",)),),
... )
>>> StudyResult.from_json(result.to_json()) == result
True
>>> result.findings[0].measurements["area"].unit
'mm2'
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from streamgale.errors import DicomError

__all__ = ["SCHEMA_VERSION", "Finding", "Measurement", "StudyResult"]

SCHEMA_VERSION = 1
"""Version of the JSON form written by :meth:`StudyResult.to_json`."""


def _problem(what: str, got: object, expected: str) -> DicomError:
    return DicomError(f"result record: {what} is {got!r}; expected {expected}")


@dataclass(frozen=True)
class Measurement:
    """One numeric measurement of a finding (a TID 300 NUM item when rendered).

    ``unit`` is a UCUM code (``"mm"``, ``"mm2"``, ``"mm3"``, ``"1"`` for a
    ratio); ``name`` is the human-readable concept name.
    """

    value: float
    unit: str
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, int | float) or not math.isfinite(self.value):
            raise _problem("measurement value", self.value, "a finite number")
        if not self.unit or not isinstance(self.unit, str):
            raise _problem("measurement unit", self.unit, 'a UCUM code such as "mm2"')
        if not self.name or not isinstance(self.name, str):
            raise _problem("measurement name", self.name, 'a non-empty name such as "Area"')
        object.__setattr__(self, "value", float(self.value))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module docstring)."""
        return {"value": self.value, "unit": self.unit, "name": self.name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of :meth:`to_dict`."""
        return cls(value=data["value"], unit=data["unit"], name=data["name"])


@dataclass(frozen=True)
class Finding:
    """What a model says about one label in a study.

    ``measurements`` is keyed by a stable machine key (``"area"``,
    ``"diameter"``, ``"volume"`` have standard codes in the SR; other keys get
    a local code). ``source_sop_instance_uids`` are the images the finding was
    made on; the SR references them.
    """

    label: str
    probability: float
    present: bool
    measurements: Mapping[str, Measurement] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    source_sop_instance_uids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.label or not isinstance(self.label, str):
            raise _problem("finding label", self.label, "a non-empty string")
        if not isinstance(self.probability, int | float) or not 0.0 <= self.probability <= 1.0:
            raise _problem(f"probability of '{self.label}'", self.probability, "0.0 .. 1.0")
        if not isinstance(self.present, bool):
            raise _problem(f"'present' of '{self.label}'", self.present, "True or False")
        for key, measurement in self.measurements.items():
            if not isinstance(measurement, Measurement):
                raise _problem(f"measurement '{key}'", measurement, "a Measurement")
        object.__setattr__(self, "probability", float(self.probability))
        object.__setattr__(self, "measurements", MappingProxyType(dict(self.measurements)))
        object.__setattr__(
            self, "source_sop_instance_uids", tuple(str(u) for u in self.source_sop_instance_uids)
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module docstring)."""
        return {
            "label": self.label,
            "probability": self.probability,
            "present": self.present,
            "measurements": {k: m.to_dict() for k, m in self.measurements.items()},
            "source_sop_instance_uids": list(self.source_sop_instance_uids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`."""
        return cls(
            label=data["label"],
            probability=data["probability"],
            present=data["present"],
            measurements={
                k: Measurement.from_dict(m) for k, m in data.get("measurements", {}).items()
            },
            source_sop_instance_uids=tuple(data.get("source_sop_instance_uids", ())),
        )


@dataclass(frozen=True)
class StudyResult:
    """One model's result for one study, version ``version``.

    ``created_at`` must be timezone-aware (it becomes the SR Content Date and
    Time); ``timings`` holds per-stage latencies in milliseconds.
    """

    result_id: str
    study_instance_uid: str
    series_instance_uids: tuple[str, ...]
    model_name: str
    model_version: str
    findings: tuple[Finding, ...]
    created_at: dt.datetime
    version: int = 1
    supersedes: str | None = None
    timings: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        for name in ("result_id", "study_instance_uid", "model_name", "model_version"):
            value = getattr(self, name)
            if not value or not isinstance(value, str):
                raise _problem(name, value, "a non-empty string")
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise _problem("version", self.version, "an integer >= 1")
        if (self.version == 1) != (self.supersedes is None):
            raise _problem(
                "supersedes",
                self.supersedes,
                "None for version 1 and the previous result_id for later versions",
            )
        if self.supersedes == self.result_id:
            raise _problem("supersedes", self.supersedes, "a result_id other than this one")
        if not isinstance(self.created_at, dt.datetime) or self.created_at.utcoffset() is None:
            raise _problem("created_at", self.created_at, "a timezone-aware datetime")
        object.__setattr__(self, "series_instance_uids", tuple(self.series_instance_uids))
        object.__setattr__(self, "findings", tuple(self.findings))
        for finding in self.findings:
            if not isinstance(finding, Finding):
                raise _problem("a finding", finding, "a Finding")
        timings = {str(k): float(v) for k, v in self.timings.items()}
        object.__setattr__(self, "timings", MappingProxyType(timings))

    @property
    def is_update(self) -> bool:
        """True when this result replaces an earlier version."""
        return self.supersedes is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module docstring)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "result_id": self.result_id,
            "version": self.version,
            "supersedes": self.supersedes,
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uids": list(self.series_instance_uids),
            "model": {"name": self.model_name, "version": self.model_version},
            "created_at": self.created_at.isoformat(),
            "timings_ms": dict(self.timings),
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialise as JSON with sorted keys (byte-stable for equal records)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyResult:
        """Inverse of :meth:`to_dict`; raises :class:`DicomError` on an unknown schema."""
        schema = data.get("schema_version")
        if schema != SCHEMA_VERSION:
            raise _problem(
                "schema_version", schema, f"{SCHEMA_VERSION}; upgrade StreamGale to read it"
            )
        try:
            return cls(
                result_id=data["result_id"],
                version=data["version"],
                supersedes=data["supersedes"],
                study_instance_uid=data["study_instance_uid"],
                series_instance_uids=tuple(data["series_instance_uids"]),
                model_name=data["model"]["name"],
                model_version=data["model"]["version"],
                created_at=dt.datetime.fromisoformat(data["created_at"]),
                timings=data.get("timings_ms", {}),
                findings=tuple(Finding.from_dict(f) for f in data["findings"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DicomError(
                f"result record is malformed ({type(exc).__name__}: {exc}); "
                "it must follow the schema in streamgale.dicom.results.finding"
            ) from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> StudyResult:
        """Parse what :meth:`to_json` wrote."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DicomError(f"result record is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise _problem("the JSON document", type(data).__name__, "an object")
        return cls.from_dict(data)
