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
(``reason: "late-instance"``). Each study event lists, in
``new_sop_instance_uids``, the instances added since its previous version
(all of them in version 1), so later steps wait only for those.

State holds only studies still arriving. A complete study moves to a
:class:`~streamgale.dicom.assembly_index.FinishedStudies` index on disk,
kept ``retain_seconds`` for late arrivals, so snapshots do not grow with
history. Quiet timers are processing time and are not saved: a restored
study gets a full quiet period again, so a restart re-reads the instances
logged after its snapshot before it can cut the study. An instance that
arrives again (released from quarantine, resent) replaces its earlier copy
and is new in the next version.

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
from pathlib import Path
from typing import Any

from streamgale.batch import Batch, iter_rows
from streamgale.dicom.assembly_index import FinishedStudies
from streamgale.errors import ConfigError
from streamgale.runtime.logic import Clock, Emit, StepLogic

__all__ = ["AssemblyConfig", "AssemblyLogic"]

Event = Mapping[str, Any]


@dataclass
class _Series:
    instances: list[dict[str, Any]] = field(default_factory=list)
    expected: int | None = None
    complete: bool = False
    version: int = 0


@dataclass
class _Study:
    series: dict[str, _Series] = field(default_factory=dict)
    last_arrival: float = 0.0
    """Processing time (the runtime clock) of the last instance; not meaningful
    across restarts, so a restore resets it."""
    quiet: float = 0.0
    complete: bool = False
    version: int = 0
    late: str = ""
    """Why a complete study reopened: "late-series" or "late-instance"."""
    fresh: list[str] = field(default_factory=list)
    """SOP Instance UIDs added since the last emitted study version."""
    received_at: float = 0.0
    """Latest arrival time the log carries (unix seconds): what retention counts from."""


@dataclass(frozen=True)
class AssemblyConfig:
    """How long to wait for a study to be quiet, and how long to remember it.

    ``quiet_for`` maps an instance event to its route's quiet time (seconds),
    overriding ``quiet_seconds``; ``retain_seconds`` is how long a complete
    study is remembered so that late series update it instead of starting anew.
    ``index`` is the file of finished studies (None: in memory, for tests).
    """

    quiet_seconds: float = 5.0
    retain_seconds: float = 3600.0
    quiet_for: Callable[[Event], float | None] | None = None
    index: Path | None = None

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
        studies, self._generation = _unpack(resume)
        self._finished = FinishedStudies(
            config.index, generation=self._generation, retain_seconds=config.retain_seconds
        )
        now = clock.now()
        self._studies: dict[str, _Study] = {}
        for uid, study in studies.items():
            if study.complete:  # a snapshot from before the index: move it there
                self._finished.put(uid, _body(study), received_at=study.received_at)
                continue
            study.last_arrival = now  # a full quiet period for the replay to catch up
            self._studies[uid] = study

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
        study = self._studies.get(study_uid) or self._reopened(study_uid)
        series = study.series.setdefault(event["series_instance_uid"], _Series())
        sop = event["sop_instance_uid"]
        same = [i for i, e in enumerate(series.instances) if e["sop_instance_uid"] == sop]
        study.last_arrival = now
        study.received_at = max(study.received_at, float(event.get("received_at") or 0.0))
        quiet = self._config.quiet_for(event) if self._config.quiet_for else None
        study.quiet = quiet or self._config.quiet_seconds
        if study.complete:  # a late arrival reopens the study: its result gets a new version
            study.complete = False
            study.late = "late-instance" if series.instances else "late-series"
        series.complete = False
        if same:  # a new copy (released, resent): it replaces the one assembled before
            del series.instances[same[0]]
        series.instances.append(dict(event))
        if sop not in study.fresh:
            study.fresh.append(sop)
        if event.get("expected_instances"):
            series.expected = int(event["expected_instances"])
        out = [{"level": "instance", **event}]
        if series.expected is not None and len(series.instances) >= series.expected:
            out.extend(self._complete_series(study_uid, event["series_instance_uid"], "count"))
        return out

    def _reopened(self, study_uid: str) -> _Study:
        body = self._finished.get(study_uid)
        study = self._studies[study_uid] = _Study() if body is None else _study_from(body)
        self._finished.discard(study_uid)  # live again: the snapshot holds it now
        return study

    def _signal(self, event: Event) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        series_uids = set(event.get("series_instance_uids") or [])
        for study_uid in list(self._studies):
            study = self._studies[study_uid]
            for series_uid in [uid for uid in study.series if uid in series_uids]:
                out.extend(self._complete_series(study_uid, series_uid, "signal"))
            if study_uid in self._studies and study_uid in (event.get("study_instance_uids") or []):
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
                "new_sop_instance_uids": list(study.fresh),
            }
        )
        study.fresh = []
        # Finished: out of the state, into the index until it expires.
        del self._studies[study_uid]
        self._finished.put(study_uid, _body(study), received_at=study.received_at)
        return out

    def next_awake(self) -> float | None:
        dues = [s.last_arrival + s.quiet for s in self._studies.values()]
        return min(dues) if dues else None

    def on_tick(self, now: float) -> Emit:
        out: list[dict[str, Any]] = []
        for uid, study in list(self._studies.items()):
            if now >= study.last_arrival + study.quiet:
                out.extend(self._complete_study(uid, "quiet"))
        return [(0, out)] if out else []

    def on_eof(self) -> Emit:
        out: list[dict[str, Any]] = []
        for uid in list(self._studies):
            out.extend(self._complete_study(uid, "end-of-input"))
        return [(0, out)] if out else []

    def snapshot(self) -> dict[str, Any]:
        """Live studies, and the generation the finished-study index is written up to."""
        self._generation += 1
        self._finished.commit(self._generation)
        return {"generation": self._generation, "studies": self._studies}

    @property
    def finished(self) -> FinishedStudies:
        """The index of finished studies (for tests and metrics)."""
        return self._finished

    def close(self) -> None:
        self._finished.close()


def _unpack(resume: Any | None) -> tuple[dict[str, _Study], int]:
    if not resume:
        return {}, 0
    if "generation" in resume and "studies" in resume:
        return dict(resume["studies"]), int(resume["generation"])
    # Snapshots from before the index held every study, complete ones too.
    studies = dict(resume)
    for study in studies.values():
        study.__dict__.setdefault("fresh", [])
        study.__dict__.setdefault("received_at", 0.0)
    return studies, 0


def _body(study: _Study) -> dict[str, Any]:
    """What a late arrival needs of a finished study, as JSON-friendly data."""
    return {
        "version": study.version,
        "received_at": study.received_at,
        "series": {
            uid: {"version": s.version, "expected": s.expected, "instances": s.instances}
            for uid, s in study.series.items()
        },
    }


def _study_from(body: Mapping[str, Any]) -> _Study:
    series = {
        uid: _Series(
            instances=list(s["instances"]),
            expected=s.get("expected"),
            complete=True,
            version=int(s["version"]),
        )
        for uid, s in body["series"].items()
    }
    return _Study(
        series=series,
        complete=True,
        version=int(body["version"]),
        received_at=float(body.get("received_at", 0.0)),
    )


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
