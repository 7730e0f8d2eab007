"""Prometheus metrics of a radiology pipeline's stores, read when someone scrapes.

The runtime already counts records, errors, dead letters and batch times per
step, and samples channel depths (:mod:`streamgale.metrics`). What it cannot
see lives in the radiology app's stores: the quarantine, the delivery queues,
the results, the instances kept, and the dead letters of earlier runs.
:class:`RadiologyCollector` reads those at scrape time with one indexed
``COUNT`` query per store, and keeps the readings for ``cache_seconds`` so a
dashboard refreshing every second does not repeat the queries.

A store that cannot be read (closed at shutdown, a disk error) leaves its
metrics out of that scrape instead of failing the whole scrape.

>>> import tempfile
>>> from pathlib import Path
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from streamgale.dicom.quality import QuarantineStore
>>> quarantine = QuarantineStore(Path(tempfile.mkdtemp()))
>>> _ = quarantine.put(b"not dicom", reason="unreadable", stage="validation", source="folder")
>>> registry = CollectorRegistry()
>>> registry.register(RadiologyCollector("radiology", quarantine=quarantine))
>>> line = 'streamgale_quarantine_entries{pipeline="radiology",status="quarantined"} 1.0'
>>> line in generate_latest(registry).decode()
True
>>> quarantine.close()
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sized
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from streamgale.deadletter import DEAD_LETTER_FILE, stored_counts
from streamgale.errors import ConfigError, StreamGaleError

if TYPE_CHECKING:
    from streamgale.dicom.delivery import DeliveryManager
    from streamgale.dicom.quality import QuarantineStore
    from streamgale.dicom.radiology.pipeline import RadiologyApp
    from streamgale.dicom.results.store import ResultStore

__all__ = ["RadiologyCollector", "register_radiology_metrics"]

_log = logging.getLogger(__name__)

_READ_ERRORS = (sqlite3.Error, OSError, StreamGaleError)
"""What reading a store may raise; such a store is left out of one scrape."""

_DESTINATION = ("pipeline", "destination")


class RadiologyCollector:
    """A Prometheus collector of the radiology stores it is given (any may be None).

    ``instances`` is anything with a cheap ``len()`` (the
    :class:`~streamgale.dicom.ingest.InstanceStore`); ``dead_letters`` is
    the path of the run's dead-letter store file. ``clock`` (monotonic
    seconds) times the cache; tests pass their own.
    """

    def __init__(
        self,
        pipeline: str,
        *,
        quarantine: QuarantineStore | None = None,
        delivery: DeliveryManager | None = None,
        results: ResultStore | None = None,
        instances: Sized | None = None,
        dead_letters: Path | None = None,
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_seconds < 0:
            raise ConfigError(f"must be >= 0 seconds; got {cache_seconds!r}", key="cache_seconds")
        self.pipeline = pipeline
        self._quarantine = quarantine
        self._delivery = delivery
        self._results = results
        self._instances = instances
        self._dead_letters = dead_letters
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        """Every family, read now or within the last ``cache_seconds``."""
        with self._lock:  # two scrapes at once read the stores once
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= self._cache_seconds:
                self._cached = (now, self._read())
            families = self._cached[1]
        yield from families

    def describe(self) -> Iterator[Metric]:
        """The family names, without reading any store (lets a registry refuse clashes)."""
        yield from _quarantine_families()
        yield from _destination_families()
        yield from _store_families()

    def _read(self) -> list[Metric]:
        families: list[Metric] = []
        for source, read in (
            ("quarantine", self._read_quarantine),
            ("delivery", self._read_delivery),
            ("results", self._read_results),
            ("instances", self._read_instances),
            ("dead letters", self._read_dead_letters),
        ):
            try:
                families.extend(read())
            except _READ_ERRORS as exc:
                _log.debug("metrics: cannot read the %s store: %s", source, exc)
        return families

    def _read_quarantine(self) -> list[Metric]:
        if self._quarantine is None:
            return []
        (entries,) = _quarantine_families()
        for status, n in self._quarantine.counts().items():
            entries.add_metric([self.pipeline, status.value], n)
        return [entries]

    def _read_delivery(self) -> list[Metric]:
        if self._delivery is None:
            return []
        backlog, failed, delivered, retrying, attempts, next_in = _destination_families()
        for name, state in self._delivery.state().items():
            labels = [self.pipeline, name]
            backlog.add_metric(labels, state["pending"])
            failed.add_metric(labels, state["failed"])
            delivered.add_metric(labels, state["delivered"])
            retrying.add_metric(labels, 1 if state["attempts"] > 0 else 0)
            attempts.add_metric(labels, state["attempts"])
            if state["next_attempt_in"] is not None:
                next_in.add_metric(labels, state["next_attempt_in"])
        return [backlog, failed, delivered, retrying, attempts, next_in]

    def _read_results(self) -> list[Metric]:
        if self._results is None:
            return []
        family = _store_families()[0]
        family.add_metric([self.pipeline], self._results.count())
        return [family]

    def _read_instances(self) -> list[Metric]:
        if self._instances is None:
            return []
        family = _store_families()[1]
        family.add_metric([self.pipeline], len(self._instances))
        return [family]

    def _read_dead_letters(self) -> list[Metric]:
        if self._dead_letters is None:
            return []
        family = _store_families()[2]
        for (step, status), n in sorted(
            stored_counts(self._dead_letters, self.pipeline).items(),
            key=lambda item: (item[0][0], item[0][1].value),
        ):
            family.add_metric([self.pipeline, step, status.value], n)
        return [family]


def register_radiology_metrics(
    app: RadiologyApp, *, cache_seconds: float = 1.0
) -> RadiologyCollector:
    """Add the stores of ``app`` to its runtime's metrics registry; returns the collector.

    Call once per app, after constructing it: the runtime's ``/metrics``
    (``metrics_port``) and anything else exposing that registry then show them.
    """
    state_dir = app.runtime.config.state_dir
    collector = RadiologyCollector(
        app.settings.name,
        quarantine=app.quarantine,
        delivery=app.delivery,
        results=app.results,
        instances=app.store,
        dead_letters=state_dir / DEAD_LETTER_FILE if state_dir is not None else None,
        cache_seconds=cache_seconds,
    )
    try:
        app.runtime.metrics.registry.registry.register(collector)
    except ValueError as exc:  # the registry refuses names it already has
        raise ConfigError(
            f"the radiology metrics are already registered for pipeline "
            f"'{app.settings.name}' ({exc}); call register_radiology_metrics once per app"
        ) from exc
    return collector


def _quarantine_families() -> tuple[GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "streamgale_quarantine_entries",
            "Quarantined inputs kept, by status (quarantined, release_requested, released, "
            "discarded).",
            labels=("pipeline", "status"),
        ),
    )


def _destination_families() -> tuple[
    GaugeMetricFamily,
    GaugeMetricFamily,
    CounterMetricFamily,
    GaugeMetricFamily,
    GaugeMetricFamily,
    GaugeMetricFamily,
]:
    return (
        GaugeMetricFamily(
            "streamgale_destination_backlog",
            "Results waiting to be delivered to the destination.",
            labels=_DESTINATION,
        ),
        GaugeMetricFamily(
            "streamgale_destination_failed",
            "Results set aside after their last delivery attempt (retry with the CLI).",
            labels=_DESTINATION,
        ),
        CounterMetricFamily(
            "streamgale_destination_delivered",
            "Results delivered to the destination.",
            labels=_DESTINATION,
        ),
        GaugeMetricFamily(
            "streamgale_destination_retrying",
            "1 while the oldest waiting result has failed at least once, else 0.",
            labels=_DESTINATION,
        ),
        GaugeMetricFamily(
            "streamgale_destination_attempts",
            "Failed attempts of the oldest waiting result.",
            labels=_DESTINATION,
        ),
        GaugeMetricFamily(
            "streamgale_destination_next_attempt_seconds",
            "Seconds until the oldest waiting result is tried again (absent when none waits).",
            labels=_DESTINATION,
        ),
    )


def _store_families() -> tuple[CounterMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        CounterMetricFamily(
            "streamgale_results",
            "Result versions stored (SR, SEG and JSON per study and model).",
            labels=("pipeline",),
        ),
        GaugeMetricFamily(
            "streamgale_instances_stored",
            "DICOM instances kept in the instance store.",
            labels=("pipeline",),
        ),
        GaugeMetricFamily(
            "streamgale_dead_letters_stored",
            "Dead letters in the store, this run's and earlier runs', by step and status "
            "(new, replay, replayed).",
            labels=("pipeline", "step", "status"),
        ),
    )
