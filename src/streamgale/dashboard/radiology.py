"""The dashboard backend of the radiology pipeline: a :class:`RadiologyBackend` per app.

It reads what a running :class:`~streamgale.dicom.radiology.RadiologyApp`
already keeps: the step graph and the Prometheus registry of its runtime,
the result store, the instance store (for thumbnails), the quarantine, the
delivery queues, and the Parquet lake under ``<state_dir>/lake`` for SQL
and study timelines. It never creates metric handles or touches the
runtime's driver thread: metrics are read by collecting the registry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamgale.dashboard.backend import JsonObject
from streamgale.dashboard.lake import LakeConsole, timeline_from_rows
from streamgale.dashboard.rates import RateWindow, StepReading
from streamgale.dashboard.thumbnail import render_thumbnail, seg_mask
from streamgale.errors import DicomError, StreamGaleError

if TYPE_CHECKING:
    from streamgale.dicom.radiology import RadiologyApp
    from streamgale.dicom.results.store import StoredResult

__all__ = ["RadiologyBackend"]

logger = logging.getLogger("streamgale.dashboard")

_THUMBNAILS_KEPT = 64
_FALLBACK_STAGES = ("preprocess", "queue", "infer")


class RadiologyBackend:
    """Implements :class:`~streamgale.dashboard.DashboardBackend` for one radiology app.

    ``lake_root`` and ``storage_options`` default to the app's lake
    (``<state_dir>/lake`` unless configured); ``window_s`` is how far back
    live rates and latency percentiles look.
    """

    def __init__(
        self,
        app: RadiologyApp,
        *,
        lake_root: str | Path | None = None,
        storage_options: Mapping[str, Any] | None = None,
        window_s: float = 5.0,
    ) -> None:
        self.app = app
        self.lake = LakeConsole(
            lake_root if lake_root is not None else app.lake_root,
            storage_options=storage_options
            if storage_options is not None
            else app.settings.lake_options,
        )
        self._rates = RateWindow(window_s=window_s)
        self._lock = threading.Lock()
        self._thumbnails: OrderedDict[str, bytes] = OrderedDict()

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return self.app.settings.name

    # The pipeline -------------------------------------------------------
    def graph(self) -> JsonObject:
        """The step graph of the app's dataflow."""
        from streamgale.dataflow.pipeline import describe

        steps = []
        for step in self.app.runtime.pipeline:
            info = describe(step)
            kind = {"SourceStep": "source", "SinkStep": "sink"}.get(info["kind"], info["kind"])
            steps.append({"id": info["id"], "kind": kind, "inputs": list(info["inputs"])})
        edges = [{"from": src, "to": s["id"]} for s in steps for src in s["inputs"]]
        return {"pipeline": self.name, "steps": steps, "edges": edges}

    def steps(self) -> JsonObject:
        """Live per-step numbers from the runtime's metrics."""
        readings, depths = _read_registry(self.app.runtime.metrics.registry.registry)
        ids = [step.step_id for step in self.app.runtime.pipeline]
        empty = StepReading(0, 0, 0, 0, (), ())
        stats = self._rates.observe({i: readings.get(i, empty) for i in ids})
        queued: dict[str, float] = {}
        for (_, dst), depth in depths.items():
            queued[dst] = queued.get(dst, 0.0) + depth
        return {
            "at": time.time(),
            "window_s": self._rates.window_s,
            "steps": [{"id": i, **stats[i], "queued": queued.get(i, 0.0)} for i in ids],
            "channels": [{"from": s, "to": d, "depth": v} for (s, d), v in depths.items()],
            "totals": self._totals(),
        }

    def _totals(self) -> JsonObject:
        app = self.app
        counts = {str(status): n for status, n in app.quarantine.counts().items()}
        backlog = sum(app.delivery.backlog().values()) if app.delivery is not None else 0
        return {
            "instances": len(app.store),
            "results": app.results_built,
            "quarantined": counts.get("quarantined", 0),
            "release_requested": counts.get("release_requested", 0),
            "delivery_backlog": backlog,
        }

    # Results ------------------------------------------------------------
    def results(self, limit: int) -> JsonObject:
        """The newest results, each with its first finding."""
        rows = []
        for stored in self.app.results.list(limit=limit):
            record = stored.load()
            finding = record.findings[0] if record.findings else None
            rows.append(
                {
                    "result_id": stored.result_id,
                    "study_instance_uid": stored.study_instance_uid,
                    "model": stored.model,
                    "model_version": stored.model_version,
                    "version": stored.version,
                    "created_at": stored.created_at,
                    "label": finding.label if finding else None,
                    "present": bool(finding and finding.present),
                    "probability": finding.probability if finding else None,
                    "total_ms": record.timings.get("total"),
                }
            )
        return {"results": rows}

    def result(self, result_id: str) -> JsonObject:
        """One result: its record, the instances analysed, its timeline."""
        stored = self._stored(result_id)
        record = stored.load()
        detail = record.to_dict()
        series = set(record.series_instance_uids)
        instances = [
            i.sop_instance_uid
            for i in self.app.store.study(record.study_instance_uid)
            if i.series_instance_uid in series
        ]
        detail.update(
            instances={"count": len(instances), "sop_instance_uids": sorted(instances)},
            sr=stored.sr_path is not None,
            seg=stored.seg_path is not None,
            thumbnail=f"/api/results/{result_id}/thumbnail",
            timeline=self._timeline(record.study_instance_uid, dict(record.timings)),
        )
        return detail

    def thumbnail(self, result_id: str) -> bytes:
        """A PNG of a source image, the finding's middle one when there is a finding."""
        with self._lock:
            cached = self._thumbnails.get(result_id)
            if cached is not None:
                self._thumbnails.move_to_end(result_id)
                return cached
        stored = self._stored(result_id)
        sop = self._thumbnail_source(stored)
        try:
            path = self.app.store.path_of(sop)
        except KeyError:
            raise KeyError(f"the source image {sop} of result {result_id} is not stored") from None
        mask = seg_mask(stored.seg_path, sop) if stored.seg_path is not None else None
        png = render_thumbnail(path, mask=mask)
        with self._lock:
            self._thumbnails[result_id] = png
            while len(self._thumbnails) > _THUMBNAILS_KEPT:
                self._thumbnails.popitem(last=False)
        return png

    def _stored(self, result_id: str) -> StoredResult:
        try:
            return self.app.results.get(result_id)
        except DicomError:
            raise KeyError(f"no result with id {result_id!r}") from None

    def _thumbnail_source(self, stored: StoredResult) -> str:
        record = stored.load()
        positive = [sop for f in record.findings if f.present for sop in f.source_sop_instance_uids]
        if positive:  # already in slice order: the middle one shows the finding
            return positive[len(positive) // 2]
        series = set(record.series_instance_uids)
        stored_instances = [
            i
            for i in self.app.store.study(record.study_instance_uid)
            if i.series_instance_uid in series
        ]
        if not stored_instances:
            raise KeyError(f"result {stored.result_id} has no stored source images")
        ordered = _in_slice_order([(i.sop_instance_uid, Path(i.path)) for i in stored_instances])
        return ordered[len(ordered) // 2]

    def _timeline(self, study_uid: str, timings: Mapping[str, float]) -> JsonObject:
        try:
            rows = self.lake.study_rows(study_uid)
        except StreamGaleError as exc:  # a lake that cannot be read: say so, use the record
            logger.warning("dashboard: no lake timeline for study %s: %s", study_uid, exc)
            rows = []
        stages = timeline_from_rows(rows)
        if stages:
            return {"source": "lake", "stages": stages}
        return {"source": "result", "stages": _timeline_from_timings(timings)}

    # Quarantine and destinations -----------------------------------------
    def quarantine(self, status: str | None, limit: int) -> JsonObject:
        """Entries with ``status``; by default the ones waiting for an operator."""
        store = self.app.quarantine
        if status is None:
            entries = store.list("quarantined", limit=limit) + store.list(
                "release_requested", limit=limit
            )
            entries.sort(key=lambda e: e.quarantined_at)
            entries = entries[:limit]
        else:
            entries = store.list(None if status == "all" else status, limit=limit)
        return {
            "counts": {str(k): n for k, n in store.counts().items()},
            "entries": [e.to_json() for e in entries],
        }

    def release(self, ids: Sequence[str]) -> JsonObject:
        """Mark entries for release; the app's release loop re-ingests them within a second."""
        return {"requested": self.app.quarantine.request_release(ids)}

    def discard(self, ids: Sequence[str]) -> JsonObject:
        """Delete entries' bytes for good (their rows stay, as ``discarded``)."""
        return {"discarded": self.app.quarantine.discard(ids)}

    def destinations(self) -> JsonObject:
        """Every delivery queue's backlog and retry state."""
        delivery = self.app.delivery
        states = list(delivery.state().values()) if delivery is not None else []
        return {"destinations": [dict(s) for s in states]}

    # SQL and metrics ----------------------------------------------------
    def reports(self) -> JsonObject:
        """The canned reports."""
        return self.lake.reports()

    def report(self, name: str, params: Mapping[str, Any]) -> JsonObject:
        """Run one canned report."""
        return self.lake.report(name, params)

    def sql(self, query: str) -> JsonObject:
        """Run read-only SQL over the lake."""
        return self.lake.sql(query)

    def metrics(self) -> bytes:
        """The runtime's Prometheus exposition."""
        return self.app.runtime.metrics.registry.exposition()

    def close(self) -> None:
        """Close the SQL engine (the app's stores belong to the app)."""
        self.lake.close()


def _read_registry(
    registry: Any,
) -> tuple[dict[str, StepReading], dict[tuple[str, str], float]]:
    """Per-step readings and channel depths from a collected Prometheus registry."""
    values: dict[str, dict[str, float]] = {}
    buckets: dict[str, dict[float, float]] = {}
    depths: dict[tuple[str, str], float] = {}
    for family in registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "streamgale_channel_depth":
                depths[(labels["from_step"], labels["to_step"])] = float(sample.value)
            elif sample.name == "streamgale_step_batch_seconds_bucket":
                buckets.setdefault(labels["step"], {})[float(labels["le"])] = sample.value
            elif "step" in labels:
                values.setdefault(labels["step"], {})[sample.name] = sample.value
    readings = {step: _reading(found, buckets.get(step, {})) for step, found in values.items()}
    return readings, depths


def _reading(values: Mapping[str, float], cumulative: Mapping[float, float]) -> StepReading:
    bounds = tuple(sorted(b for b in cumulative if b != float("inf")))
    edges = [*bounds, float("inf")] if cumulative else []
    running = [int(cumulative.get(b, 0)) for b in edges]
    counts = tuple(n - (running[i - 1] if i else 0) for i, n in enumerate(running))
    return StepReading(
        records_in=int(values.get("streamgale_step_records_in_total", 0)),
        records_out=int(values.get("streamgale_step_records_out_total", 0)),
        errors=int(values.get("streamgale_step_errors_total", 0)),
        dead_letters=int(values.get("streamgale_dead_letters_total", 0)),
        bounds=bounds,
        counts=counts,
    )


def _in_slice_order(instances: Iterable[tuple[str, Path]]) -> list[str]:
    """SOP Instance UIDs along the slice normal, else by Instance Number, else as given."""
    from pydicom import dcmread

    keyed = []
    for sop, path in instances:
        ds = dcmread(
            path,
            stop_before_pixels=True,
            specific_tags=["ImagePositionPatient", "ImageOrientationPatient", "InstanceNumber"],
        )
        keyed.append((sop, ds))
    try:
        from streamgale.dicom.pixels import slice_normal

        normal = slice_normal([float(v) for v in keyed[0][1].ImageOrientationPatient])
        depth = {
            sop: float(
                sum(n * float(p) for n, p in zip(normal, ds.ImagePositionPatient, strict=True))
            )
            for sop, ds in keyed
        }
    except (AttributeError, TypeError, ValueError, StreamGaleError):
        depth = {sop: float(ds.get("InstanceNumber") or 0) for sop, ds in keyed}
    return sorted(depth, key=lambda sop: (depth[sop], sop))


def _timeline_from_timings(timings: Mapping[str, float]) -> list[JsonObject]:
    """Bars from a result's own timings, when the lake has no rows for the study.

    The per-instance stages are means, placed one after another from the
    study's last arrival; building the results ends at ``total``.
    """
    total = timings.get("total")
    last = timings.get("last_instance_to_result")
    arrivals_end = total - last if total is not None and last is not None else 0.0
    bars: list[JsonObject] = []
    if arrivals_end > 0:
        bars.append(_bar("received", 0.0, arrivals_end))
    at = arrivals_end
    for stage in _FALLBACK_STAGES:
        if stage in timings:
            bars.append(_bar(stage, at, at + float(timings[stage])))
            at += float(timings[stage])
    if "results" in timings:
        end = float(total) if total is not None else at + float(timings["results"])
        bars.append(_bar("results", end - float(timings["results"]), end))
    return bars


def _bar(stage: str, start: float, end: float) -> JsonObject:
    return {"stage": stage, "start_ms": round(start, 3), "end_ms": round(end, 3), "count": 1}
