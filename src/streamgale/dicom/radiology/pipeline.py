"""The radiology pipeline: DICOM in, AI results back into the study, nothing lost.

Doors (C-STORE SCP, STOW-RS) store each instance durably in the
:class:`~streamgale.dicom.ingest.InstanceStore` and publish an event on the
durable log. The dataflow then reads the log::

    instances (log) -> assembly -> prepare -+-> infer <model> (one per model) -+
                          |                 +-> expectations ------------------+-> collect
                          +-> studies --------------------------------------------^     |
                                                                          finalize <----+

Every instance ends processed (its outcomes reach a result), quarantined
(with a reason, original bytes kept) or refused at the door; a crash resumes
from the last checkpoint, and results are idempotent per result id.

:class:`RadiologyApp` is the pipeline and its stores; the doors, the
dashboard, the metrics and the landing are wired around it by
:class:`streamgale.service.RadiologyService`, which is what starts a service.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamgale.batch import Batch
from streamgale.connectors.base import BuildContext, Sink, SinkPartition
from streamgale.connectors.log import LogSource
from streamgale.dataflow import Pipeline, Stream
from streamgale.dicom.assembly import AssemblyConfig
from streamgale.dicom.deid import DeidConfig
from streamgale.dicom.delivery import DeliveryManager, Destination
from streamgale.dicom.ingest.retention import RetentionPolicy
from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.ingest.store import InstanceStore
from streamgale.dicom.quality import QuarantineStore, ValidationLimits
from streamgale.dicom.radiology.collect import StudyCollector
from streamgale.dicom.radiology.finalize import Finalizer, ResultSummary
from streamgale.dicom.radiology.headers import HeaderCache
from streamgale.dicom.radiology.identifiers import LakeIdentifiers
from streamgale.dicom.radiology.prepare import Expectation, Preparer
from streamgale.dicom.radiology.telemetry import RadiologyTelemetry
from streamgale.dicom.results.store import ResultStore
from streamgale.dicom.routing import Route, Router
from streamgale.errors import ConfigError, DicomError
from streamgale.inference import (
    InferenceFailure,
    InferenceRequest,
    ModelConfig,
    ModelRegistry,
    infer,
)
from streamgale.log import FsyncPolicy, SegmentLog
from streamgale.runtime.config import RuntimeConfig
from streamgale.runtime.runner import Runtime
from streamgale.telemetry import Telemetry

__all__ = ["DashboardSettings", "RadiologyApp", "RadiologySettings", "StowSettings"]


RECENT_SUMMARIES = 1000
"""How many result summaries a service keeps in memory for display."""


@dataclass(frozen=True)
class StowSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    path_prefix: str = "/dicomweb"
    max_concurrent_requests: int = 8
    """POSTs served at once (each holds its body in memory); more get 503."""


@dataclass(frozen=True)
class DashboardSettings:
    """Where the web dashboard listens: localhost unless configured otherwise."""

    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class RadiologySettings:
    """One radiology pipeline: listeners, models, routes, destinations, state."""

    state_dir: Path
    models: tuple[ModelConfig, ...]
    routes: tuple[Route, ...]
    name: str = "radiology"
    dimse: ScpConfig | None = field(default_factory=ScpConfig)
    stow: StowSettings | None = field(default_factory=StowSettings)
    folder: Path | None = None
    """A directory to watch: files dropped there are ingested (moved to .done/)."""
    destinations: tuple[Destination, ...] = ()
    deid: DeidConfig | None = None
    limits: ValidationLimits = field(default_factory=ValidationLimits)
    quiet_seconds: float = 5.0
    retain_finished: float = 3600.0
    """Seconds a finished study is remembered (on disk) so a late series updates its result."""
    checkpoint_interval: float = 1.0
    max_run_seconds: float | None = None
    """Drain, commit and stop after this long (``streamgale run --stop-after``)."""
    metrics_port: int | None = None
    demo: bool = False
    telemetry: bool = True
    """Record lifecycle events and results, and land them in the lake."""
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    """How long received instances are kept once processed (default: for ever)."""
    lake: str | None = None
    """Lake root: a directory or an fsspec URL (``s3://bucket/lake``); default
    ``<state_dir>/lake``."""
    lake_options: Mapping[str, Any] = field(default_factory=dict)
    """fsspec storage options for a remote lake (endpoint_url, key, secret...)."""
    lake_retention_days: float | None = None
    """Delete lake partitions older than this many days (None keeps everything)."""
    dashboard: DashboardSettings | None = None
    """Serve the web dashboard from this process (login with the admin token)."""
    traces_endpoint: str | None = None
    """An OTLP/HTTP endpoint (``http://collector:4318/v1/traces``) for one trace
    per study; needs the ``otel`` extra."""

    def __post_init__(self) -> None:
        known = {m.name for m in self.models}
        for route in self.routes:
            if route.deidentify and self.deid is None:
                raise ConfigError(
                    f"route '{route.name}' de-identifies but no de-identification settings "
                    "are given; pass deid=DeidConfig(...) or set the route's deidentify=False",
                    key="deidentify",
                )
            missing = [m for m in route.all_models if m not in known]
            if missing:
                raise ConfigError(
                    f"route '{route.name}' names unknown model(s) {', '.join(missing)}; "
                    f"configured models: {', '.join(sorted(known)) or 'none'}",
                    key="routes",
                )
            unknown = {*route.destinations, *route.export} - {d.name for d in self.destinations}
            if unknown:
                raise ConfigError(
                    f"route '{route.name}' names unknown destination(s) "
                    f"{', '.join(sorted(unknown))}",
                    key="routes",
                )


class RadiologyApp:
    """Owns the stores, the dataflow and the runtime of one radiology pipeline.

    It opens no door: :class:`streamgale.service.RadiologyService` runs it.
    """

    def __init__(
        self,
        settings: RadiologySettings,
        *,
        on_result: Callable[[ResultSummary], None] | None = None,
    ) -> None:
        self.settings = settings
        root = settings.state_dir
        root.mkdir(parents=True, exist_ok=True)
        self.log = SegmentLog(root / "log", fsync=FsyncPolicy.ALWAYS)
        self.quarantine = QuarantineStore(root / "quarantine")
        self.results = ResultStore(root / "results")
        self.lake_root = settings.lake or str(root / "lake")
        # Telemetry may lose its last fraction of a second in a crash (it is
        # measurement, not data), so it does not pay an fsync per event.
        self.telemetry_log = SegmentLog(root / "telemetry-log", fsync=FsyncPolicy.INTERVAL)
        self.router = Router(settings.routes)
        self.telemetry = RadiologyTelemetry(
            Telemetry(self.telemetry_log, settings.name, enabled=settings.telemetry),
            {m.name: m for m in settings.models},
            variant_of=self.router.variant,
            delivered_of=self.router.delivers,
            identifiers=LakeIdentifiers(self.router, settings.deid),
        )
        self.store = InstanceStore(
            root / "instances",
            self.log,
            on_refused=self.telemetry.refused if settings.telemetry else None,
            # a resend of an instance that ended in the quarantine is a new version
            supersedes=lambda e: self.quarantine.holds(e.sop_instance_uid, since=e.received_at),
            superseded=lambda e: self.quarantine.mark_superseded(e.sop_instance_uid),
            retention=settings.retention,
            # validation would quarantine a larger one; the door refuses it, and bounds
            # what a Deflated data set may inflate to before it is read
            max_instance_bytes=settings.limits.max_bytes,
        )
        self.delivery = (
            DeliveryManager(root / "delivery", settings.destinations, listener=self._delivery_ended)
            if settings.destinations
            else None
        )
        self.registry = ModelRegistry(settings.models)
        # The newest summaries, for display; bounded so a long-running service's
        # memory does not grow with every result (the result store has them all).
        self._recent: deque[ResultSummary] = deque(maxlen=RECENT_SUMMARIES)
        self.results_built = 0
        """Results built since this process started (summaries keeps only the newest)."""
        self._on_result = on_result
        self.runtime = Runtime(
            self._build(),
            RuntimeConfig(
                state_dir=root / "runtime",
                checkpoint_interval=settings.checkpoint_interval,
                max_run_seconds=settings.max_run_seconds,
                metrics_port=settings.metrics_port,
            ),
        )

    def _build(self) -> Pipeline:
        s = self.settings
        models = {m.name: m for m in s.models}
        p = Pipeline(s.name)
        events = p.source("instances", LogSource(self.log, "instances"))
        assembly = AssemblyConfig(
            quiet_seconds=s.quiet_seconds,
            retain_seconds=s.retain_finished,
            quiet_for=self.router.quiet_for,
            index=s.state_dir / "runtime" / "finished-studies.sqlite",
        )
        (assembled,) = events.stateful(
            "assembly", lambda ctx, resume: assembly.build(resume, ctx.clock)
        )
        recording = s.telemetry
        headers = HeaderCache()  # parsed once in prepare, used again by finalize
        preparer = Preparer(
            self.store,
            self.quarantine,
            self.router,
            models,
            limits=s.limits,
            deid=s.deid,
            telemetry=self.telemetry.telemetry if recording else None,
            delivery=self.delivery,
            headers=headers,
        )
        prepared = assembled.flat_map("prepare", _marking_unasked(preparer, self.store))
        split = prepared.branch("requests", lambda r: isinstance(r, InferenceRequest))
        outcomes: list[Stream[Any]] = []
        for name in models:
            wanted = split.trues.filter(f"for-{name}", _for_model(name))
            inferred = infer(wanted, f"infer-{name}", self.registry, name=name)
            answered = inferred.results
            if recording:
                # parallelism 1: runs in the driver, no process or pickling involved
                answered = answered.map_batches(f"inferred-{name}", self.telemetry.inferred_batch)
            outcomes.append(answered)
            outcomes.append(inferred.failures.map(f"quarantine-{name}", self._quarantine_failure))
        studies = assembled.filter("studies", lambda e: e.get("level") == "study")
        merged = split.falses.merge("outcomes", *outcomes)
        (work,) = merged.stateful(
            "collect", lambda ctx, resume: StudyCollector(resume), others=(studies,)
        )
        finalizer = Finalizer(
            self.store,
            self.results,
            models,
            delivery=self.delivery,
            destinations_of={r.name: r.destinations for r in s.routes},
            delivers=self.router.delivers,
            quarantine=self.quarantine,
            demo=s.demo,
            deid=s.deid,
            deidentifying=frozenset(r.name for r in s.routes if r.deidentify),
            headers=headers,
            stopping=lambda: self.runtime.stopping,  # ends waits for disk space
            on_stored=self.telemetry.finalized if s.telemetry else None,
        )
        # Building SR/SEG takes hundreds of ms for a large study; on a thread it
        # no longer holds up the ingest, preprocessing and inference of others.
        results = work.map("finalize", finalizer, executor="thread")
        results.filter("built", lambda r: r is not None).sink(
            "results", _CallbackSink(self._record)
        )
        return p

    def _quarantine_failure(self, failure: InferenceFailure) -> InferenceFailure:
        meta = failure.request.meta
        stored = self.store.get(str(meta["sop_instance_uid"]))
        self.quarantine.put(
            Path(stored.path).read_bytes(),
            reason=f"model {meta.get('model')} failed: {failure.error}",
            stage="inference",
            source=stored.source,  # the door it came by, for the operator
            sop_instance_uid=str(meta["sop_instance_uid"]),
            study_instance_uid=str(meta["study_instance_uid"]),
        )
        if self.settings.telemetry:
            self.telemetry.inference_failed(failure)
        return failure

    def _record(self, summary: ResultSummary) -> None:
        self.store.mark_processed(summary.sop_instance_uids)  # retention may purge them now
        self._recent.append(summary)
        self.results_built += 1
        if self._on_result is not None:
            self._on_result(summary)

    @property
    def summaries(self) -> list[ResultSummary]:
        """The newest result summaries built by this process, oldest first."""
        return list(self._recent)

    def _delivery_ended(self, destination: str, result_id: str, error: str | None) -> None:
        if not self.settings.telemetry:
            return
        try:
            study: str | None = self.results.get(result_id).load().study_instance_uid
        except DicomError:
            study = None  # a result kept elsewhere (another version's store): still count it
        self.telemetry.delivery_ended(destination, study, error=error, result_id=result_id)

    def release_requested(self) -> int:
        """Re-ingest quarantine entries marked for release, and instances queued for
        reprocessing; returns how many."""
        entries = self.quarantine.take_release_requests()
        done = []
        for entry in entries:
            if entry.sop_instance_uid is None:
                continue  # unreadable input: nothing to re-process; it stays requested
            try:
                self.store.release(entry.sop_instance_uid)
            except KeyError:
                self.store.put(self.quarantine.read_bytes(entry.id), source="release")
            done.append(entry.id)
        if done:
            self.quarantine.mark_released(done)
        reprocessed = self.store.reprocess_requested()  # queued by `streamgale reprocess`
        self.store.apply_retention()  # at most once per the policy's interval
        if done or reprocessed:
            self.runtime.wake.set()
        return len(done) + reprocessed

    def stop(self) -> None:
        self.runtime.stop()

    def close(self) -> None:
        """Close the stores (after the runtime stopped)."""
        for closer in (
            self.delivery.close if self.delivery else None,
            self.store.close,
            self.quarantine.close,
            self.results.close,
            self.log.close,
            self.telemetry_log.close,
        ):
            if closer is not None:
                closer()


def _for_model(name: str) -> Callable[[InferenceRequest], bool]:
    return lambda request: request.meta["model"] == name


class _CallbackSink(Sink[Any]):
    """Hands each result summary to the app (not durable by itself: the result
    store already is, and summaries are only for display)."""

    def __init__(self, callback: Callable[[Any], None]) -> None:
        self.callback = callback

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> SinkPartition[Any]:
        callback = self.callback

        class _Part(SinkPartition[Any]):
            def write_batch(self, batch: Batch) -> None:
                for record in batch:
                    callback(record)

        return _Part()


def _marking_unasked(
    preparer: Preparer, store: InstanceStore
) -> Callable[[Mapping[str, Any]], list[Any]]:
    """The prepare step, marking instances no model is asked about as processed.

    Those need nothing more from the store (results mark theirs when built;
    quarantined ones count through the quarantine), so retention may purge them.
    """

    def prepare(event: Mapping[str, Any]) -> list[Any]:
        out = preparer(event)
        done = [
            e.sop_instance_uid
            for e in out
            if isinstance(e, Expectation) and not e.models and e.quarantined is None
        ]
        if done:
            store.mark_processed(done)
        return out

    return prepare
