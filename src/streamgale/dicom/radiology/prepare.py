"""Per-instance preparation: route, validate, de-identify, preprocess.

For every ``instance`` event from study assembly, :class:`Preparer` reads the
stored bytes and turns them into one inference request per model its routes
name, plus one :class:`Expectation` telling the study collector which model
outcomes to wait for. An instance that cannot be used is quarantined right
here (original bytes kept, with the stage and a human-readable reason) and
its expectation says so, so its study still completes: every input ends
processed or quarantined, never lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamgale.dicom.deid import DeidConfig, deidentify
from streamgale.dicom.ingest.store import InstanceStore
from streamgale.dicom.pixels import PreprocessConfig, preprocess_instance
from streamgale.dicom.quality import QuarantineStore, ValidationLimits, validate_bytes
from streamgale.dicom.routing import Router
from streamgale.errors import DicomError
from streamgale.inference import InferenceRequest, ModelConfig

__all__ = ["Expectation", "Preparer"]


@dataclass(frozen=True)
class Expectation:
    """What the collector must wait for before an instance counts as done.

    ``models`` is empty when no route applies or when the instance was
    quarantined (``quarantined`` then holds the reason).
    """

    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    models: tuple[str, ...]
    routes: tuple[str, ...]
    quarantined: str | None = None


class Preparer:
    """Callable for a ``flat_map`` step: event -> [Expectation, InferenceRequest...]."""

    def __init__(
        self,
        store: InstanceStore,
        quarantine: QuarantineStore,
        router: Router,
        models: Mapping[str, ModelConfig],
        *,
        limits: ValidationLimits,
        deid: DeidConfig | None,
    ) -> None:
        self._store = store
        self._quarantine = quarantine
        self._router = router
        self._limits = limits
        self._deid = deid
        self._preprocess = {
            name: PreprocessConfig.from_mapping(cfg.preprocessing) for name, cfg in models.items()
        }

    def __call__(self, event: Mapping[str, Any]) -> list[Any]:
        if event.get("level") != "instance":
            return []
        routes = self._router.routes_for(event)
        models = tuple(dict.fromkeys(m for r in routes for m in r.models))
        base = {
            "sop_instance_uid": event["sop_instance_uid"],
            "study_instance_uid": event["study_instance_uid"],
            "series_instance_uid": event["series_instance_uid"],
        }
        names = tuple(r.name for r in routes)
        if not models:
            return [Expectation(**base, models=(), routes=names)]
        started = time.perf_counter()
        # A stored instance that cannot be read back is a system fault, not bad
        # input: it raises, and the step sends the event to the dead-letter store.
        data = self._store.read_bytes(event["sop_instance_uid"])
        stage = "validation"
        try:
            ds = validate_bytes(data, self._limits)
            if any(r.deidentify for r in routes):
                stage = "deid"
                ds = deidentify(ds, self._require_deid())
            stage = "decode"
            tensors = {m: preprocess_instance(ds, self._preprocess[m]) for m in models}
        except Exception as exc:
            # Bad input is data: whatever a codec or parser raises on it (a
            # decompression bomb, a garbled stream), the instance is quarantined
            # with the reason instead of stopping the step.
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            self._quarantine.put(
                data,
                reason=reason,
                stage=stage,
                source=event.get("source") or "dimse",
                sop_instance_uid=event["sop_instance_uid"],
                study_instance_uid=event["study_instance_uid"],
            )
            return [Expectation(**base, models=(), routes=names, quarantined=reason)]
        prepared_ms = (time.perf_counter() - started) * 1000
        priority = int(self._router.priority_of(event))
        meta = {
            **base,
            "routes": names,
            "received_at": event.get("received_at"),
            "prepared_ms": prepared_ms,
            "prepared_at": time.time(),
        }
        requests = [
            InferenceRequest(
                key=f"{event['sop_instance_uid']}|{model}",
                tensor=tensors[model],
                meta={**meta, "model": model},
                priority=priority,
            )
            for model in models
        ]
        return [Expectation(**base, models=models, routes=names), *requests]

    def _require_deid(self) -> DeidConfig:
        if self._deid is None:
            raise DicomError(
                "a route asks for de-identification but no 'deidentify' settings (secret, "
                "options) are configured"
            )
        return self._deid
