"""What the radiology pipeline records, stage by stage, for the lake.

:class:`RadiologyTelemetry` turns the pipeline's own records (inference
results and failures, stored results, deliveries, refusals at the doors)
into rows of the ``telemetry``, ``inferences`` and ``results`` lake tables.
Preparation records its stages and study completions itself
(:mod:`streamgale.dicom.radiology.prepare`), since they happen inside one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from streamgale.batch import Batch, iter_rows
from streamgale.dicom.radiology.identifiers import LakeIdentifiers
from streamgale.inference import InferenceFailure, InferenceResult, ModelConfig
from streamgale.telemetry import Telemetry

__all__ = ["RadiologyTelemetry", "probability_of"]


def probability_of(result: InferenceResult) -> float:
    """The model's headline probability for one instance (its first known output)."""
    for name in ("lesion_probability", "probability", "score"):
        if name in result.outputs:
            return float(np.asarray(result.outputs[name]).max())
    return float(np.asarray(next(iter(result.outputs.values()))).max())


class RadiologyTelemetry:
    """Records the radiology pipeline's lifecycle. :meth:`inferred_batch` returns
    its input, so it sits in a ``map_batches`` step as a tap; the rest are called
    by the app, the delivery queues and the doors."""

    def __init__(
        self,
        telemetry: Telemetry,
        models: Mapping[str, ModelConfig],
        *,
        variant_of: Callable[[str, str], str | None] = lambda route, model: None,
        delivered_of: Callable[[str, str], bool] = lambda route, model: True,
        identifiers: LakeIdentifiers | None = None,
    ) -> None:
        self.telemetry = telemetry
        self._models = models
        self._variant_of = variant_of
        self._delivered_of = delivered_of
        # Rows of de-identifying routes name studies by pseudonym (the lake may be shared).
        self._identifiers = identifiers

    def _ids(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        ids = _ids(meta)
        if self._identifiers is None:
            return ids
        deidentified = self._identifiers.of_routes(meta.get("routes") or ())
        return self._identifiers.ids(
            deidentified, ids["study_uid"], ids["series_uid"], ids["instance_uid"]
        )

    def inferred_batch(self, batch: Batch) -> Batch:
        """Record that each result's instance was inferred, and what the model said,
        for a whole micro-batch in one log append."""
        rows = [row for result in iter_rows(batch) for row in self._inferred_rows(result)]
        self.telemetry.emit(rows)
        return batch

    def _inferred_rows(self, result: InferenceResult) -> list[dict[str, Any]]:
        meta = result.meta
        model = self._models[str(meta["model"])]
        route = _route(meta)
        label = model.labels[0] if model.labels else "finding"
        probability = probability_of(result)
        ids = self._ids(meta)
        now = time.time()
        since = _since(meta, now)
        common = {
            "route": route,
            **ids,
            "model": model.name,
            "model_version": model.version,
            "variant": self._variant_of(route or "", model.name),
        }
        return [
            self.telemetry.stage_row(
                "inferred",
                step=f"infer-{model.name}",
                level="instance",
                ts=now,
                duration_ms=result.queued_ms + result.infer_ms,
                since_received_ms=since,
                key=meta.get("received_at"),  # a resent instance is inferred again
                **common,
            ),
            self.telemetry.row(
                "inferences",
                ts=now,
                **common,
                label=label,
                probability=probability,
                present=probability >= float(model.thresholds.get(label, 0.5)),
                queue_ms=result.queued_ms,
                infer_ms=result.infer_ms,
                delivered=self._delivered_of(route or "", model.name),
            ),
        ]

    def inference_failed(self, failure: InferenceFailure) -> InferenceFailure:
        meta = failure.request.meta
        model = self._models.get(str(meta.get("model")))
        self.telemetry.stage(
            "quarantined",
            step=f"infer-{meta.get('model')}",
            level="instance",
            outcome="quarantined",
            reason=f"model {meta.get('model')} failed: {failure.error}",
            route=_route(meta),
            **self._ids(meta),
            model=model.name if model else None,
            model_version=model.version if model else None,
            since_received_ms=_since(meta, time.time()),
            key=meta.get("received_at"),
        )
        return failure

    def finalized(self, summary: Any) -> None:
        """A study's result is stored (``summary`` is a ResultSummary)."""
        model = self._models[summary.model]
        route = summary.route
        timings = summary.timings_ms
        label = model.labels[0] if model.labels else "finding"
        study_uid = summary.study_instance_uid
        if self._identifiers is not None:
            study_uid = self._identifiers.uid(getattr(summary, "deidentified", False), study_uid)
        common = {
            "route": route,
            "study_uid": study_uid,
            "model": model.name,
            "model_version": model.version,
            "variant": self._variant_of(route or "", model.name),
        }
        self.telemetry.emit(
            [
                self.telemetry.stage_row(
                    "finalized",
                    step="finalize",
                    level="study",
                    duration_ms=timings.get("results"),
                    since_received_ms=timings.get("total"),
                    key=[summary.result_id, summary.version],
                    **common,
                ),
                self.telemetry.row(
                    "results",
                    **common,
                    result_id=summary.result_id,
                    version=summary.version,
                    label=label,
                    probability=summary.probability,
                    present=summary.present,
                    instances=summary.instances,
                    quarantined=summary.quarantined,
                    last_instance_to_result_ms=timings.get("last_instance_to_result"),
                    total_ms=timings.get("total"),
                    sr_path=summary.sr_path,
                    seg_path=summary.seg_path,
                    delivered=self._delivered_of(route or "", model.name),
                ),
            ]
        )

    def refused(self, source: str, calling_ae: str | None, size: int, reason: str) -> None:
        """A door refused bytes (the sender got an error status): received, never stored."""
        self.telemetry.stage(
            "received",
            step=f"door-{source}",
            level="instance",
            outcome="refused",
            reason=f"{reason} (from {calling_ae})" if calling_ae else reason,
            size_bytes=size,
        )

    def delivery_ended(
        self,
        destination: str,
        study_uid: str | None,
        *,
        error: str | None = None,
        result_id: str | None = None,
    ) -> None:
        """A result (``result_id``) reached ``destination``, or delivery gave up with ``error``."""
        self.telemetry.stage(
            "failed" if error else "delivered",
            step=f"deliver-{destination}",
            level="study",
            outcome="failed" if error else "ok",
            reason=error,
            study_uid=study_uid,
            key=result_id,  # each version of a study's result is delivered
        )


def _route(meta: Mapping[str, Any]) -> str | None:
    routes = meta.get("routes") or ()
    return str(routes[0]) if routes else None


def _ids(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "study_uid": meta.get("study_instance_uid"),
        "series_uid": meta.get("series_instance_uid"),
        "instance_uid": meta.get("sop_instance_uid"),
    }


def _since(meta: Mapping[str, Any], now: float) -> float | None:
    received = meta.get("received_at")
    return (now - float(received)) * 1000 if received else None
