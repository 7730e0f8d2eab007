"""Per-instance preparation: route, validate, de-identify, export, preprocess.

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
from dataclasses import dataclass, replace
from typing import Any

from streamgale.dicom.deid import DeidConfig, deidentify
from streamgale.dicom.deid.vocabulary import descriptor_vocabulary
from streamgale.dicom.delivery import DeliveryManager
from streamgale.dicom.ingest.store import InstanceStore
from streamgale.dicom.pixels import PreprocessConfig, preprocess_instance
from streamgale.dicom.quality import QuarantineStore, ValidationLimits, validate_bytes
from streamgale.dicom.quality._sop import SEGMENTATION_STORAGE
from streamgale.dicom.radiology.headers import HeaderCache
from streamgale.dicom.radiology.identifiers import LakeIdentifiers
from streamgale.dicom.results import to_part10_bytes
from streamgale.dicom.routing import Router
from streamgale.errors import DicomError, InvalidInstanceError
from streamgale.inference import InferenceRequest, ModelConfig
from streamgale.telemetry import Telemetry

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
        telemetry: Telemetry | None = None,
        delivery: DeliveryManager | None = None,
        headers: HeaderCache | None = None,
    ) -> None:
        self._telemetry = telemetry
        self._headers = headers
        self._delivery = delivery
        self._store = store
        self._quarantine = quarantine
        self._router = router
        self._limits = limits
        self._deid = deid
        self._identifiers = LakeIdentifiers(router, deid)
        if deid is not None:
            descriptor_vocabulary()  # built once (~0.3 s): now, not in the first instance
        self._preprocess = {
            name: PreprocessConfig.from_mapping(cfg.preprocessing) for name, cfg in models.items()
        }

    def __call__(self, event: Mapping[str, Any]) -> list[Any]:
        if event.get("level") != "instance":
            if self._telemetry is not None:
                _record_completion(self._telemetry, event, self._identifiers)
            return []
        routes = self._router.routes_for(event)
        study = str(event["study_instance_uid"])
        models = tuple(dict.fromkeys(m for r in routes for m in r.models_for(study)))
        base = {
            "sop_instance_uid": event["sop_instance_uid"],
            "study_instance_uid": event["study_instance_uid"],
            "series_instance_uid": event["series_instance_uid"],
        }
        names = tuple(r.name for r in routes)
        exports = tuple(dict.fromkeys(d for r in routes for d in r.export))
        deidentified = any(r.deidentify for r in routes)
        stages = _Stages(
            self._telemetry, event, names[0] if names else None, self._identifiers, deidentified
        )
        if not models and not exports:
            stages.flush()  # received, and no route asks anything more of it
            return [Expectation(**base, models=(), routes=names)]
        started = time.perf_counter()
        # A stored instance that cannot be read back is a system fault, not bad
        # input: it raises, and the step sends the event to the dead-letter store.
        data = self._store.read_bytes(event["sop_instance_uid"])
        stage = "validation"
        try:
            # No model asks for pixels on an export-only route: an SR or ECG may pass.
            limits = self._limits if models else replace(self._limits, require_pixels=False)
            ds = original = validate_bytes(data, limits)
            if models:
                _check_model_input(ds)
            stages.ended("validated")
            if deidentified:
                stage = "deid"
                ds = deidentify(ds, self._require_deid())
                stages.ended("deidentified")
            stage = "decode"
            tensors = {m: preprocess_instance(ds, self._preprocess[m]) for m in models}
            if models:
                stages.ended("preprocessed")
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
            stages.ended("quarantined", outcome="quarantined", reason=reason)
            stages.flush()
            return [Expectation(**base, models=(), routes=names, quarantined=reason)]
        if exports:
            # A queue that cannot take it (a full disk) is a system fault, not bad input:
            # it raises, and the step sends the event to the dead-letter store.
            self._export(ds, exports)
            stages.ended("exported")
        stages.flush()
        if not models:
            return [Expectation(**base, models=(), routes=names)]
        if self._headers is not None:
            # Finalization needs this header again; parsed and checked already.
            self._headers.put(str(event["sop_instance_uid"]), original)
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

    def _export(self, ds: Any, destinations: tuple[str, ...]) -> None:
        """Queue the instance, as the routes made it (de-identified when one of them
        de-identifies), for the routes' export destinations; idempotent per instance,
        so a replay after a crash sends nothing twice."""
        if self._delivery is None:
            names = ", ".join(destinations)
            raise DicomError(f"the routes export to {names} but no destinations are configured")
        key = f"instance-{ds.SOPInstanceUID}"
        self._delivery.enqueue(destinations, [to_part10_bytes(ds)], key)

    def _require_deid(self) -> DeidConfig:
        if self._deid is None:
            raise DicomError(
                "a route asks for de-identification but no 'deidentify' settings (secret, "
                "options) are configured"
            )
        return self._deid


def _check_model_input(ds: Any) -> None:
    """Refuse a Segmentation (an earlier result, often forwarded with its study) as model input.

    A SEG has pixels, but they are another algorithm's mask over images of the
    study, not an image a model was trained on, and a SEG of a SEG helps no
    reader. It is quarantined at validation, saying so, rather than run and
    failing when its results are built; an export-only route forwards it.
    Objects without pixels (SR, presentation states) are refused by
    ``require_pixels`` already.
    """
    if str(ds.SOPClassUID) == SEGMENTATION_STORAGE:
        raise InvalidInstanceError(
            "Segmentation Storage is a result (a mask over other images), not an image a "
            "model reads; give it a route with export and no models to forward it"
        )


def _record_completion(
    telemetry: Telemetry, event: Mapping[str, Any], identifiers: LakeIdentifiers
) -> None:
    """A series or study is complete: every instance of it was received."""
    level = str(event.get("level"))
    if level in ("series", "study"):
        ids = identifiers.ids(
            identifiers.deidentifies(event),
            event.get("study_instance_uid"),
            event.get("series_instance_uid") if level == "series" else None,
        )
        telemetry.stage(
            "received",
            step="assembly",
            level=level,
            study_uid=ids["study_uid"],
            series_uid=ids["series_uid"],
            reason=str(event.get("reason")) if event.get("reason") else None,
            key=event.get("version"),  # a late series completes the study again
        )


class _Stages:
    """Telemetry rows of one instance's preparation, recorded in one append."""

    def __init__(
        self,
        telemetry: Telemetry | None,
        event: Mapping[str, Any],
        route: str | None,
        identifiers: LakeIdentifiers,
        deidentified: bool,
    ):
        self._telemetry = telemetry
        self._rows: list[dict[str, Any]] = []
        if telemetry is None:
            return
        self._received = float(event.get("received_at") or time.time())
        self._last = time.time()
        self._ids = {
            "route": route,
            **identifiers.ids(
                deidentified,
                event["study_instance_uid"],
                event["series_instance_uid"],
                event["sop_instance_uid"],
            ),
            "size_bytes": event.get("size"),
        }
        self._add("received", ts=self._received, since_received_ms=0.0)

    def ended(self, stage: str, *, outcome: str = "ok", reason: str | None = None) -> None:
        if self._telemetry is None:
            return
        now = time.time()
        self._add(
            stage,
            ts=now,
            duration_ms=(now - self._last) * 1000,
            since_received_ms=(now - self._received) * 1000,
            outcome=outcome,
            reason=reason,
        )
        self._last = now

    def _add(self, stage: str, **columns: Any) -> None:
        if self._telemetry is None:
            return
        self._rows.append(
            self._telemetry.stage_row(
                stage, step="prepare", level="instance", key=self._received, **self._ids, **columns
            )
        )

    def flush(self) -> None:
        if self._telemetry is not None:
            self._telemetry.emit(self._rows)
            self._rows = []
