"""The study collector: waits until every instance of a complete study is done.

Two inputs: port 0 carries per-instance outcomes (an
:class:`~streamgale.dicom.radiology.prepare.Expectation`, then one
``InferenceResult`` or ``InferenceFailure`` per model); port 1 carries the
``study`` events of study assembly. They travel different paths, so they
arrive in any order. When a study is complete and every one of its instances
has its expectation and all the outcomes it expects, the collector emits one
:class:`StudyWork` per model, with each instance's outcome.

Once a study's work is emitted its state is dropped, so memory holds only
studies in flight. A later study version (a late series) names the instances
it adds in ``new_sop_instance_uids``; only those are waited for, and
finalization merges them with the stored previous version, so the result is
updated and versioned, not lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamgale.batch import Batch, iter_rows
from streamgale.dicom.radiology.prepare import Expectation
from streamgale.inference import InferenceFailure, InferenceResult
from streamgale.runtime.logic import Emit, StepLogic

__all__ = ["StudyCollector", "StudyWork"]


@dataclass(frozen=True)
class StudyWork:
    """All outcomes of one model for one complete study version."""

    study_instance_uid: str
    model: str
    version: int
    results: tuple[InferenceResult, ...]
    failures: tuple[InferenceFailure, ...]
    quarantined: tuple[Expectation, ...]
    study_event: Mapping[str, Any]


@dataclass
class _Study:
    expectations: dict[str, Expectation] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], InferenceResult | InferenceFailure] = field(
        default_factory=dict
    )
    pending: Mapping[str, Any] | None = None
    """The latest study event not yet turned into work."""
    owed: set[str] = field(default_factory=set)
    """Instances the study events received so far added and no work covered yet."""


class StudyCollector(StepLogic):
    """See the module docstring; state is snapshotted with the pipeline."""

    def __init__(self, resume: Any | None = None) -> None:
        # Snapshots from before owed instances were tracked were (studies, finished).
        studies = resume[0] if isinstance(resume, tuple) else resume or {}
        self._studies: dict[str, _Study] = dict(studies)
        for study in self._studies.values():
            study.__dict__.setdefault("owed", set(_sops(study.pending or {})))

    def on_batch(self, port: int, batch: Batch) -> Emit:
        touched: set[str] = set()
        for record in iter_rows(batch):
            study_uid = _study_of(record)
            if study_uid is None:
                continue
            study = self._studies.setdefault(study_uid, _Study())
            if port == 1:
                # A version replacing one not yet turned into work owes its instances too.
                new = record.get("new_sop_instance_uids")
                study.owed.update(_sops(record) if new is None else new)
                study.pending = record
            elif isinstance(record, Expectation):
                study.expectations[record.sop_instance_uid] = record
            else:
                meta = record.request.meta if isinstance(record, InferenceFailure) else record.meta
                study.outcomes[(meta["sop_instance_uid"], meta["model"])] = record
            touched.add(study_uid)
        work = [w for uid in touched for w in self._ready(uid)]
        return [(0, work)] if work else []

    def _ready(self, study_uid: str) -> list[StudyWork]:
        study = self._studies[study_uid]
        event = study.pending
        if event is None:
            return []
        listed = _sops(event)
        sops = [sop for sop in listed if sop in study.owed]
        sops += sorted(study.owed.difference(listed))
        expectations = [study.expectations.get(sop) for sop in sops]
        if any(e is None for e in expectations):
            return []
        done = [e for e in expectations if e is not None]
        if any((e.sop_instance_uid, m) not in study.outcomes for e in done for m in e.models):
            return []
        models = sorted({m for e in done for m in e.models})
        quarantined = tuple(e for e in done if e.quarantined)
        work = [
            self._work(
                study,
                study_uid=study_uid,
                model=model,
                done=done,
                quarantined=quarantined,
                event=event,
            )
            for model in models
        ]
        self._forget(study_uid, set(sops))
        return work

    def _forget(self, study_uid: str, sops: set[str]) -> None:
        """Drop what the emitted work covered; keep instances already under way for
        the next version (they arrived after the study event was cut)."""
        study = self._studies[study_uid]
        study.pending = None
        study.owed.clear()
        for sop in sops:
            study.expectations.pop(sop, None)
        study.outcomes = {k: v for k, v in study.outcomes.items() if k[0] not in sops}
        if not study.expectations and not study.outcomes:
            del self._studies[study_uid]

    @staticmethod
    def _work(
        study: _Study,
        *,
        study_uid: str,
        model: str,
        done: list[Expectation],
        quarantined: tuple[Expectation, ...],
        event: Mapping[str, Any],
    ) -> StudyWork:
        outcomes = [study.outcomes[(e.sop_instance_uid, model)] for e in done if model in e.models]
        return StudyWork(
            study_instance_uid=study_uid,
            model=model,
            version=int(event.get("version", 1)),
            results=tuple(o for o in outcomes if isinstance(o, InferenceResult)),
            failures=tuple(o for o in outcomes if isinstance(o, InferenceFailure)),
            quarantined=quarantined,
            study_event=event,
        )

    def snapshot(self) -> dict[str, _Study]:
        return self._studies


def _sops(event: Mapping[str, Any]) -> list[str]:
    """The SOP Instance UIDs a study event lists, in its order."""
    return [sop for series in event.get("series", ()) for sop in series["sop_instance_uids"]]


def _study_of(record: Any) -> str | None:
    if isinstance(record, Expectation):
        return record.study_instance_uid
    if isinstance(record, InferenceResult):
        return str(record.meta["study_instance_uid"])
    if isinstance(record, InferenceFailure):
        return str(record.request.meta["study_instance_uid"])
    if isinstance(record, Mapping) and record.get("level") == "study":
        return str(record["study_instance_uid"])
    return None
