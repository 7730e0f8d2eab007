"""Study and series assembly: knowing when a study is complete.

Input is the ingest event stream (``streamgale.dicom.ingest.events``): an
``instance`` event per stored instance, and ``complete`` signals (an
association released, a STOW request ended, a folder batch done). Output is
one stream of JSON-friendly dicts with a ``level``:

* ``instance``: emitted at once for every new instance, for per-image models;
* ``series``: a series is complete, with its SOP Instance UIDs;
* ``study``: a study is complete, with all its series.

A series or study is complete on the first of:

1. an explicit signal naming it (``reason: "signal"``);
2. its expected instance count reached, when an event carries
   ``expected_instances`` (``reason: "count"``);
3. no new instance for ``quiet_seconds`` (``reason: "quiet"``), settable per
   route through ``quiet_for``.

A series that arrives after its study was emitted makes the study complete
again with ``version`` + 1 and ``reason: "late-series"``, so a result can be
updated and versioned instead of silently duplicated. A late instance for a
complete series re-emits that series and its study with new versions
(``reason: "late-instance"``).

>>> from streamgale.runtime.logic import ManualClock
>>> clock = ManualClock()
>>> logic = AssemblyConfig(quiet_seconds=5).build(None, clock)
>>> event = {"kind": "instance", "sop_instance_uid": "1", "series_instance_uid": "1.1",
...          "study_instance_uid": "1.2"}
>>> [e["level"] for _, batch in logic.on_batch(0, [event]) for e in batch]
['instance']
>>> clock.advance(6)
>>> [(e["level"], e["reason"]) for _, batch in logic.on_tick(clock.now()) for e in batch]
[('series', 'quiet'), ('study', 'quiet')]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamgale.batch import Batch, iter_rows
from streamgale.errors import ConfigError
from streamgale.runtime.logic import Clock, Emit, StepLogic

__all__ = ["AssemblyConfig", "AssemblyLogic"]

Event = Mapping[str, Any]


@dataclass
class _Series:
    instances: list[dict[str, Any]] = field(default_factory=list)
    last_arrival: float = 0.0
    expected: int | None = None
    complete: bool = False
    version: int = 0


@dataclass
class _Study:
    series: dict[str, _Series] = field(default_factory=dict)
    last_arrival: float = 0.0
    quiet: float = 0.0
    complete: bool = False
    version: int = 0
    late: str = ""
    """Why a complete study reopened: "late-series" or "late-instance"."""


@dataclass(frozen=True)
class AssemblyConfig:
    """How long to wait for a study to be quiet, and how long to remember it.

    ``quiet_for`` maps an instance event to its route's quiet time (seconds),
    overriding ``quiet_seconds``; ``retain_seconds`` is how long a complete
    study is remembered so that late series update it instead of starting anew.
    """

    quiet_seconds: float = 5.0
    retain_seconds: float = 3600.0
    quiet_for: Callable[[Event], float | None] | None = None

    def __post_init__(self) -> None:
        for key in ("quiet_seconds", "retain_seconds"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"must be a number of seconds > 0; got {value!r}", key=key)

    def build(self, resume_state: Any | None, clock: Clock) -> AssemblyLogic:
        return AssemblyLogic(self, clock, resume_state)


class AssemblyLogic(StepLogic):
    """Runtime logic of study assembly; see the module docstring."""

    def __init__(self, config: AssemblyConfig, clock: Clock, resume: Any | None) -> None:
        self._config = config
        self._clock = clock
        self._studies: dict[str, _Study] = dict(resume or {})

    def on_batch(self, port: int, batch: Batch) -> Emit:
        now = self._clock.now()
        out: list[dict[str, Any]] = []
        for event in iter_rows(batch):
            if event.get("kind") == "instance":
                out.extend(self._instance(event, now))
            elif event.get("kind") == "complete":
                out.extend(self._signal(event))
        return [(0, out)] if out else []

    def _instance(self, event: Event, now: float) -> list[dict[str, Any]]:
        study_uid = event["study_instance_uid"]
        study = self._studies.setdefault(study_uid, _Study())
        series = study.series.setdefault(event["series_instance_uid"], _Series())
        study.last_arrival = series.last_arrival = now
        quiet = self._config.quiet_for(event) if self._config.quiet_for else None
        study.quiet = quiet or self._config.quiet_seconds
        if study.complete:  # a late arrival reopens the study: its result gets a new version
            study.complete = False
            study.late = "late-instance" if series.instances else "late-series"
        series.complete = False
        series.instances.append(dict(event))
        if event.get("expected_instances"):
            series.expected = int(event["expected_instances"])
        out = [{"level": "instance", **event}]
        if series.expected is not None and len(series.instances) >= series.expected:
            out.extend(self._complete_series(study_uid, event["series_instance_uid"], "count"))
        return out

    def _signal(self, event: Event) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for study_uid, study in self._studies.items():
            for series_uid in event.get("series_instance_uids") or []:
                if series_uid in study.series:
                    out.extend(self._complete_series(study_uid, series_uid, "signal"))
            if study_uid in (event.get("study_instance_uids") or []):
                out.extend(self._complete_study(study_uid, "signal"))
        return out

    def _complete_series(
        self, study_uid: str, series_uid: str, reason: str
    ) -> list[dict[str, Any]]:
        study = self._studies[study_uid]
        series = study.series[series_uid]
        if series.complete or not series.instances:
            return []
        series.complete = True
        series.version += 1
        out = [_series_event(study_uid, series_uid, series, reason)]
        if all(s.complete for s in study.series.values()) and reason == "count":
            out.extend(self._complete_study(study_uid, reason))
        return out

    def _complete_study(self, study_uid: str, reason: str) -> list[dict[str, Any]]:
        study = self._studies[study_uid]
        if study.complete:
            return []
        out: list[dict[str, Any]] = []
        for series_uid in study.series:
            out.extend(self._complete_series(study_uid, series_uid, reason))
        study.complete = True
        study.version += 1
        if study.late and reason != "signal":
            reason = study.late
        study.late = ""
        out.append(
            {
                "level": "study",
                "study_instance_uid": study_uid,
                "version": study.version,
                "reason": reason,
                "series": [
                    _series_event(study_uid, uid, s, reason) for uid, s in study.series.items()
                ],
            }
        )
        return out

    def next_awake(self) -> float | None:
        dues = [s.last_arrival + s.quiet for s in self._studies.values() if not s.complete]
        return min(dues) if dues else None

    def on_tick(self, now: float) -> Emit:
        out: list[dict[str, Any]] = []
        for uid, study in list(self._studies.items()):
            if not study.complete and now >= study.last_arrival + study.quiet:
                out.extend(self._complete_study(uid, "quiet"))
            elif study.complete and now >= study.last_arrival + self._config.retain_seconds:
                del self._studies[uid]
        return [(0, out)] if out else []

    def on_eof(self) -> Emit:
        out: list[dict[str, Any]] = []
        for uid, study in self._studies.items():
            if not study.complete:
                out.extend(self._complete_study(uid, "end-of-input"))
        return [(0, out)] if out else []

    def snapshot(self) -> dict[str, _Study]:
        return self._studies


def _series_event(study_uid: str, series_uid: str, series: _Series, reason: str) -> dict[str, Any]:
    return {
        "level": "series",
        "study_instance_uid": study_uid,
        "series_instance_uid": series_uid,
        "version": series.version,
        "reason": reason,
        "sop_instance_uids": [e["sop_instance_uid"] for e in series.instances],
        "instances": list(series.instances),
    }
