"""Turn one model's outcomes for a complete study into results where radiologists look.

:class:`Finalizer` takes a :class:`~streamgale.dicom.radiology.collect.StudyWork`
and writes a :class:`~streamgale.dicom.results.StudyResult` (JSON), a TID 1500
SR and, for segmenting models with a finding, a SEG, all into the source
study (same Study Instance UID, new series). It keeps them in the result
store and queues them for the destinations the instances' routes name.

Idempotent: the result id is derived from the study, the model and the SOP
Instance UIDs of the work, so a replay after a crash finds the stored result
and only re-queues its (idempotent) delivery. A replay that cuts the study
differently (other instances per version) finds them all in the latest
result's evidence and gets that result too: a new version needs new
instances (or a new model version), never only a new cut. A later study version (a late
series) supersedes the previous result, version + 1, and keeps its findings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.dicom.deid import DeidConfig, deidentify
from streamgale.dicom.deid.pseudonyms import Pseudonymizer
from streamgale.dicom.deid.structure import without_free_text
from streamgale.dicom.delivery import DeliveryManager
from streamgale.dicom.ingest.store import InstanceStore
from streamgale.dicom.quality import QuarantineStore
from streamgale.dicom.quality._sop import SEGMENTATION_STORAGE
from streamgale.dicom.radiology.collect import StudyWork
from streamgale.dicom.radiology.headers import HeaderCache
from streamgale.dicom.radiology.telemetry import probability_of
from streamgale.dicom.results import (
    Finding,
    StudyResult,
    build_seg,
    build_sr,
    mask_measurements,
    to_part10_bytes,
    upsample_mask,
)
from streamgale.dicom.results.store import ResultStore, StoredResult
from streamgale.errors import DicomError
from streamgale.fsutil import is_out_of_space
from streamgale.inference import InferenceResult, ModelConfig

__all__ = ["Finalizer", "ResultSummary"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResultSummary:
    """What the pipeline emits per result: for printing, metrics and tests."""

    result_id: str
    study_instance_uid: str
    model: str
    version: int
    present: bool
    probability: float
    instances: int
    quarantined: int
    sop_instance_uids: tuple[str, ...]
    """The instances this result covers (its inputs that were processed)."""
    instance_ms: tuple[float, ...]
    """Per instance: C-STORE/STOW arrival to its inference result, in milliseconds."""
    timings_ms: Mapping[str, float]
    sr_path: str | None
    seg_path: str | None
    route: str | None = None
    """The first route of the study's instances (the one its telemetry names)."""
    deidentified: bool = False
    """Whether a route of the study de-identifies: the result is in the pseudonymised
    study, and the lake names it by pseudonym."""


class Finalizer:
    """Callable for a ``flat_map`` step: StudyWork -> [ResultSummary] (none if quarantined)."""

    def __init__(
        self,
        store: InstanceStore,
        results: ResultStore,
        models: Mapping[str, ModelConfig],
        *,
        delivery: DeliveryManager | None = None,
        destinations_of: Mapping[str, Sequence[str]] | None = None,
        quarantine: QuarantineStore | None = None,
        demo: bool = False,
        deid: DeidConfig | None = None,
        deidentifying: frozenset[str] = frozenset(),
        headers: HeaderCache | None = None,
        delivers: Callable[[str, str], bool] = lambda route, model: True,
        stopping: Callable[[], bool] = lambda: False,
        on_stored: Callable[[ResultSummary], object] | None = None,
    ) -> None:
        self._stopping = stopping
        self._on_stored = on_stored
        self._store = store
        self._results = results
        self._models = models
        self._delivery = delivery
        self._destinations_of = destinations_of or {}
        self._quarantine = quarantine
        self._demo = demo
        self._deid = deid
        self._deidentifying = deidentifying
        self._headers = headers
        self._delivers = delivers

    def __call__(self, work: StudyWork) -> ResultSummary | None:
        started = time.perf_counter()
        # The model version is part of a result's identity: reprocessing with a new
        # model makes a new result, a replay with the same one finds the stored one.
        result_id = _result_id(work, self._models[work.model].version)
        try:
            stored = self._results.get(result_id)  # a replay after a crash: already built
        except DicomError:
            try:
                stored = self._build_when_space(work, result_id, started)
            except Exception as exc:
                if is_out_of_space(exc):
                    raise  # stopping on a full disk: a restart replays the study
                self._quarantine_work(
                    work, f"results could not be built: {type(exc).__name__}: {exc}"
                )
                return None
        record = stored.load()
        finding = record.findings[0] if record.findings else None
        summary = ResultSummary(
            result_id=stored.result_id,
            study_instance_uid=work.study_instance_uid,
            model=work.model,
            version=stored.version,
            present=bool(finding and finding.present),
            probability=finding.probability if finding else 0.0,
            instances=len(work.results),
            quarantined=len(work.quarantined),
            sop_instance_uids=tuple(str(r.meta["sop_instance_uid"]) for r in work.results),
            instance_ms=tuple(_instance_ms(r) for r in work.results if r.meta.get("received_at")),
            timings_ms=dict(record.timings),
            sr_path=str(stored.sr_path) if stored.sr_path else None,
            seg_path=str(stored.seg_path) if stored.seg_path else None,
            route=next(iter(_routes(work)), None),
            deidentified=bool(self._deidentifying.intersection(_routes(work))),
        )
        if self._on_stored is not None:
            # Told here, right after the result is stored (or found stored on a
            # replay), not downstream: a crash in between could lose the telling
            # when the replay cuts the study into another result.
            self._on_stored(summary)
        self._deliver(work, stored)
        return summary

    def _build_when_space(self, work: StudyWork, result_id: str, started: float) -> StoredResult:
        """:meth:`_build`, again every second while the disk is full (until stopping):
        a full disk is no fault of the study's, so it must not end quarantined."""
        waited = False
        while True:
            try:
                return self._build(work, result_id, started)
            except Exception as exc:
                if not is_out_of_space(exc) or self._stopping():
                    raise
                if not waited:
                    logger.warning(
                        "results of study %s wait for disk space (%s)", work.study_instance_uid, exc
                    )
                    waited = True
                time.sleep(_SPACE_RETRY_S)

    def _build(self, work: StudyWork, result_id: str, started: float) -> StoredResult:
        config = self._models[work.model]
        label = config.labels[0] if config.labels else "finding"
        threshold = float(config.thresholds.get(label, 0.5))
        outcomes = sorted(work.results, key=lambda r: str(r.meta["sop_instance_uid"]))
        deid = self._deid_for(work)
        sources = [self._source(str(r.meta["sop_instance_uid"]), deid) for r in outcomes]
        order = _by_position(sources)
        outcomes = [outcomes[i] for i in order]
        sources = [sources[i] for i in order]
        # float32 outputs of a sigmoid can round to just above 1.
        probabilities = np.clip([probability_of(r) for r in outcomes], 0.0, 1.0)
        # A de-identified result lives in the de-identified study, under its pseudonym.
        study_uid = str(sources[0].StudyInstanceUID) if deid else work.study_instance_uid
        previous = self._results.latest(study_uid, config.name)
        if previous is not None and _covers(previous, sources, config):
            return previous  # replayed after a crash, cut another way: nothing new to say
        finding, seg = self._finding(
            config,
            label=label,
            threshold=threshold,
            outcomes=outcomes,
            sources=sources,
            probabilities=probabilities,
        )
        if previous is not None:
            # An update covers the whole study: the earlier version's images too.
            finding = _merge(previous.load().findings, finding)
            sources = self._with_previous_sources(previous, sources, work, deid)
        result = StudyResult(
            result_id=result_id,
            study_instance_uid=study_uid,
            series_instance_uids=tuple(dict.fromkeys(str(s.SeriesInstanceUID) for s in sources)),
            model_name=config.name,
            model_version=config.version,
            created_at=dt.datetime.now(dt.UTC),
            findings=(finding,),
            version=previous.version + 1 if previous else 1,
            supersedes=previous.result_id if previous else None,
            timings=_timings(outcomes, started),
        )
        seg_bytes = to_part10_bytes(seg) if seg is not None else None
        if seg is None and previous is not None and previous.seg_path is not None:
            # Nothing new to segment: the update keeps pointing at the SEG it extends.
            seg_bytes = previous.seg_path.read_bytes()
            seg = _read(previous.seg_path)
        previous_sr = _read(previous.sr_path) if previous and previous.sr_path else None
        sr = build_sr(
            result,
            sources,
            segmentation=seg,
            previous_versions=[previous_sr] if previous_sr is not None else None,
            # Earlier versions' SEGs hold the segments of the findings it carries on.
            other_evidence=_segmentations(previous_sr) if previous_sr is not None else (),
            demo=self._demo,
        )
        sr_bytes = to_part10_bytes(sr)
        # The timings end here, with the SR and SEG built and encoded, not
        # before (the record is stored with them, so the store's write is out).
        result = dataclasses.replace(result, timings=_timings(outcomes, started))
        return self._results.put(result, sr=sr_bytes, seg=seg_bytes)

    def _finding(
        self,
        config: ModelConfig,
        *,
        label: str,
        threshold: float,
        outcomes: Sequence[InferenceResult],
        sources: Sequence[Any],
        probabilities: npt.NDArray[np.float64],
    ) -> tuple[Finding, Any | None]:
        best = float(probabilities.max()) if len(probabilities) else 0.0
        present = best >= threshold
        positive = tuple(
            str(s.SOPInstanceUID)
            for s, p in zip(sources, probabilities, strict=True)
            if p >= threshold
        )
        seg, measurements = None, {}
        mask = None
        if present and str(config.task).endswith("segmentation") and "mask" in outcomes[0].outputs:
            mask = _study_mask(sources, outcomes, threshold)
        if mask is not None:
            spacing = _pixel_spacing(sources[0])
            thickness = float(getattr(sources[0], "SliceThickness", 0) or 0) or None
            if spacing is not None:
                # At the images' resolution, but only the frames with a finding:
                # the others add nothing, and 300 upsampled frames are 78 MB.
                found = upsample_mask(
                    mask[mask.reshape(len(mask), -1).any(axis=1)],
                    int(sources[0].Rows),
                    int(sources[0].Columns),
                )
                measurements = mask_measurements(found, spacing, slice_thickness=thickness)
            seg = _seg_or_none(
                sources,
                mask,
                algorithm_name=config.name,
                algorithm_version=config.version,
                label=label.capitalize(),
                demo=self._demo,
                upsample=True,  # the frames it keeps
            )
        finding = Finding(label, best, present, measurements, positive)
        return finding, seg

    def _with_previous_sources(
        self, previous: StoredResult, sources: list[Any], work: StudyWork, deid: DeidConfig | None
    ) -> list[Any]:
        if previous.sr_path is None:
            return sources
        have = {str(ds.SOPInstanceUID) for ds in sources}
        originals = self._originals(work.study_instance_uid, deid)
        earlier = [
            self._source(originals.get(sop, sop), deid)
            for sop in _evidence(previous.sr_path)
            if sop not in have
        ]
        merged = earlier + sources
        return [merged[i] for i in _by_position(merged)]

    def _quarantine_work(self, work: StudyWork, reason: str) -> None:
        """Inputs whose result cannot be built end quarantined, with the reason."""
        if self._quarantine is None:
            raise DicomError(reason)
        for result in work.results:
            sop = str(result.meta["sop_instance_uid"])
            stored = self._store.get(sop)
            self._quarantine.put(
                Path(stored.path).read_bytes(),
                reason=reason,
                stage="results",
                source=stored.source,  # the door it came by, for the operator
                sop_instance_uid=sop,
                study_instance_uid=work.study_instance_uid,
            )

    def _deliver(self, work: StudyWork, stored: StoredResult) -> None:
        if self._delivery is None:
            return
        # A shadow model's results are kept and measured, never sent.
        routes = [r for r in _routes(work) if self._delivers(r, work.model)]
        names = sorted({d for route in routes for d in self._destinations_of.get(route, ())})
        if not names:
            return
        items = [p.read_bytes() for p in (stored.sr_path, stored.seg_path) if p is not None]
        self._delivery.enqueue(names, items, stored.result_id)

    def _deid_for(self, work: StudyWork) -> DeidConfig | None:
        """The de-identification of a study whose routes ask for it: its results
        then go out in the de-identified study, never naming the patient."""
        if not self._deidentifying.intersection(_routes(work)):
            return None
        if self._deid is None:
            raise DicomError("a route de-identifies but no 'deidentify' settings are configured")
        return self._deid

    def _originals(self, study_instance_uid: str, deid: DeidConfig | None) -> dict[str, str]:
        """Pseudonymised SOP Instance UID -> original, for the study's stored instances."""
        if deid is None:
            return {}
        pseudonyms = Pseudonymizer(deid.secret, prefix=deid.pseudonym_prefix)
        return {
            pseudonyms.uid(i.sop_instance_uid): i.sop_instance_uid
            for i in self._store.study(study_instance_uid)
        }

    def _source(self, sop_instance_uid: str, deid: DeidConfig | None = None) -> Any:
        from pydicom import dcmread

        ds = self._headers.take(sop_instance_uid) if self._headers is not None else None
        if ds is None:
            ds = dcmread(self._store.path_of(sop_instance_uid), stop_before_pixels=True)
        if deid is not None:
            # Only what a result copies: text the profile kept may still name someone.
            ds = without_free_text(deidentify(ds, deid))
        # Missing or non-conformant patient and study values are the result
        # builders' concern (streamgale.dicom.results._header).
        return ds


def _seg_or_none(sources: Sequence[Any], mask: npt.ArrayLike, **options: Any) -> Any | None:
    """:func:`build_seg`, or None (the SR alone) where the sources cannot carry a SEG.

    The SR is the finding; the SEG only draws it. Real images a SEG cannot
    reference (a CT without Frame of Reference UID, which the CT IOD requires)
    must not cost the study its result, so the study gets its SR, and the
    reason is logged for the operator.
    """
    try:
        return build_seg(sources, mask, **options)
    except DicomError as exc:
        logger.warning("study %s gets no SEG, its SR alone: %s", sources[0].StudyInstanceUID, exc)
        return None


def _study_mask(
    sources: Sequence[Any], outcomes: Sequence[InferenceResult], threshold: float
) -> npt.NDArray[np.bool_] | None:
    """The model's mask over ``sources`` (at its resolution), or None where no SEG fits.

    A SEG covers one series of single-frame images sharing one geometry and
    one orientation, or one multi-frame image whose frames its per-frame
    functional groups place, and without a frame of reference (Secondary
    Capture) one frame only. Anything else (mixed series, a 3-plane localizer,
    legacy multi-frame, mixed sizes) gets the SR alone: the finding and the
    images it was seen on, without a drawing.
    """
    masks = [np.asarray(r.outputs["mask"]) for r in outcomes]
    masks = [m.reshape(-1, *m.shape[-2:]) for m in masks]  # (frames, rows, cols) each
    geometry = {
        (str(s.SeriesInstanceUID), int(s.Rows), int(s.Columns), _frames(s)) for s in sources
    }
    if len(geometry) != 1 or any(len(m) != _frames(s) for m, s in zip(masks, sources, strict=True)):
        return None
    if len(sources) > 1 and _frames(sources[0]) > 1:
        return None
    if len({_orientation(s) for s in sources}) != 1:
        return None  # a SEG's frames share one Plane Orientation (PS3.3 C.8.20.2)
    if not _placeable(sources):
        return None
    return np.concatenate(masks) >= threshold


def _frames(ds: Any) -> int:
    return int(ds.get("NumberOfFrames", 1) or 1)


def _orientation(ds: Any) -> tuple[float, ...]:
    """Image Orientation (Patient) (0020,0037), as highdicom compares it (exactly)."""
    return tuple(float(v) for v in ds.get("ImageOrientationPatient") or ())


def _placeable(sources: Sequence[Any]) -> bool:
    """Whether highdicom can tell where each frame of the mask lies."""
    frames = sum(_frames(s) for s in sources)
    if "FrameOfReferenceUID" not in sources[0]:
        return frames == 1  # nothing to place it by: one image, one frame
    # A multi-frame is placed by its per-frame Plane Position; a legacy
    # multi-frame with one Image Position (Patient) has none.
    return _frames(sources[0]) == 1 or "PerFrameFunctionalGroupsSequence" in sources[0]


def _pixel_spacing(ds: Any) -> list[float] | None:
    """Pixel Spacing (0028,0030), top level or shared functional groups (enhanced)."""
    spacing = ds.get("PixelSpacing")
    if spacing is None:
        for group in ds.get("SharedFunctionalGroupsSequence", []):
            for measures in group.get("PixelMeasuresSequence", []):
                spacing = measures.get("PixelSpacing")
    return [float(v) for v in spacing] if spacing else None


def _routes(work: StudyWork) -> list[str]:
    """The routes of a study's instances, in first-seen order."""
    routes = [str(r) for res in work.results for r in res.meta.get("routes", ())]
    routes += [r for e in work.quarantined for r in e.routes]
    return list(dict.fromkeys(routes))


def _result_id(work: StudyWork, model_version: str) -> str:
    sops = sorted(str(r.meta["sop_instance_uid"]) for r in work.results)
    parts = [work.study_instance_uid, work.model, model_version, *sops]
    digest = hashlib.sha256("|".join(parts).encode())
    return f"r-{digest.hexdigest()[:24]}"


def _covers(previous: StoredResult, sources: Sequence[Any], config: ModelConfig) -> bool:
    """Whether the stored result already covers these sources with this model version."""
    if previous.sr_path is None or previous.model_version != config.version:
        return False
    return {str(s.SOPInstanceUID) for s in sources} <= set(_evidence(previous.sr_path))


def _by_position(sources: Sequence[Any]) -> list[int]:
    """Source order along the slice normal (Image Position/Orientation), else as given."""
    try:
        cosines = np.array([float(v) for v in sources[0].ImageOrientationPatient])
        normal = np.cross(cosines[:3], cosines[3:])
        depth = [float(np.dot(normal, [float(v) for v in s.ImagePositionPatient])) for s in sources]
    except (AttributeError, IndexError, ValueError):
        return list(range(len(sources)))
    return sorted(range(len(sources)), key=depth.__getitem__)


def _merge(previous: Sequence[Finding], new: Finding) -> Finding:
    """Version n+1 keeps what version n found (a late series adds to a study)."""
    old = next((f for f in previous if f.label == new.label), None)
    if old is None:
        return new
    probability = max(old.probability, new.probability)
    return Finding(
        new.label,
        probability,
        old.present or new.present,
        {**old.measurements, **new.measurements},
        tuple(dict.fromkeys(old.source_sop_instance_uids + new.source_sop_instance_uids)),
    )


def _instance_ms(result: InferenceResult) -> float:
    """Arrival (the store's received_at) to the model's output for this instance."""
    done = float(result.meta["prepared_at"]) + (result.queued_ms + result.infer_ms) / 1000
    return (done - float(result.meta["received_at"])) * 1000


def _timings(outcomes: Sequence[InferenceResult], started: float) -> dict[str, float]:
    if not outcomes:
        return {}
    received = [float(r.meta["received_at"]) for r in outcomes if r.meta.get("received_at")]
    out = {
        "preprocess": float(np.mean([float(r.meta.get("prepared_ms", 0.0)) for r in outcomes])),
        "queue": float(np.mean([r.queued_ms for r in outcomes])),
        "infer": float(np.mean([r.infer_ms for r in outcomes])),
        "results": (time.perf_counter() - started) * 1000,
    }
    if received:
        out["total"] = (time.time() - min(received)) * 1000
        out["last_instance_to_result"] = (time.time() - max(received)) * 1000
    return out


def _evidence(sr_path: Any) -> list[str]:
    """Image SOP Instance UIDs an SR lists as evidence (its Segmentations left out)."""
    sr = _read(sr_path)
    return [
        str(item.ReferencedSOPInstanceUID)
        for evidence in getattr(sr, "CurrentRequestedProcedureEvidenceSequence", [])
        for series in evidence.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
        if str(item.ReferencedSOPClassUID) != SEGMENTATION_STORAGE
    ]


def _segmentations(sr: Any) -> list[Any]:
    """The Segmentations an SR lists as evidence, as the references evidence needs."""
    from pydicom.dataset import Dataset

    out = []
    for evidence in getattr(sr, "CurrentRequestedProcedureEvidenceSequence", []):
        for series in evidence.ReferencedSeriesSequence:
            for item in series.ReferencedSOPSequence:
                if str(item.ReferencedSOPClassUID) == SEGMENTATION_STORAGE:
                    ds = Dataset()
                    ds.SOPClassUID = item.ReferencedSOPClassUID
                    ds.SOPInstanceUID = item.ReferencedSOPInstanceUID
                    ds.SeriesInstanceUID = series.SeriesInstanceUID
                    ds.StudyInstanceUID = evidence.StudyInstanceUID
                    out.append(ds)
    return out


_SPACE_RETRY_S = 1.0
"""How often results waiting for disk space are tried again."""


def _read(path: Any) -> Any:
    from pydicom import dcmread

    return dcmread(io.BytesIO(path.read_bytes()))
