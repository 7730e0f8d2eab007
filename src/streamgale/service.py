"""A running radiology service: the pipeline wired to its doors, dashboard, metrics and landing.

This is the one place that composes them. The pipeline
(:class:`~streamgale.dicom.radiology.RadiologyApp`) owns the stores and the
dataflow; the service adds what faces the outside world around it::

    DIMSE / STOW-RS / folder doors -> instance store -> pipeline -> results
                                                          |
          metrics, dashboard (reads the pipeline) <-------+-> telemetry log -> landing -> lake

The CLI (``streamgale run``), the demo and the tests start radiology
services through :class:`RadiologyService`, so no module below this one
needs to know the dashboard (which reads the pipeline) exists.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamgale.connectors.base import Sink
from streamgale.dashboard import DashboardServer, RadiologyBackend
from streamgale.dicom.ingest.folder import FolderWatcher
from streamgale.dicom.ingest.scp import StorageSCP
from streamgale.dicom.radiology.finalize import ResultSummary
from streamgale.dicom.radiology.metrics import register_radiology_metrics
from streamgale.dicom.radiology.pipeline import RadiologyApp, RadiologySettings
from streamgale.dicom.results import warm_up
from streamgale.dicom.web.stow import StowServer
from streamgale.errors import MissingExtraError
from streamgale.telemetry import Landing

if TYPE_CHECKING:
    from streamgale.dicom.delivery import DeliveryManager
    from streamgale.dicom.ingest.store import InstanceStore
    from streamgale.dicom.quality import QuarantineStore
    from streamgale.dicom.radiology.metrics import RadiologyCollector
    from streamgale.dicom.results.store import ResultStore
    from streamgale.runtime.runner import Runtime

__all__ = ["RadiologyService", "radiology_extras", "require_extras"]

# How long a thread may keep the GIL while another waits for it (Python's default: 5 ms).
# Building SR/SEG is pure Python on its own thread; each time the driver lets the GIL go
# (a file read, numpy, ONNX Runtime) it waited up to 5 ms to get it back, several times per
# instance. At 1 ms an instance's preparation beside a finalizing study waited p95 10-20 ms
# instead of 23-29 ms (bench/gil_contention.py); the study's CPU stays the same.
_GIL_SWITCH_INTERVAL_S = 0.001

_EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "dicom": ("pydicom", "pynetdicom", "highdicom"),
    "inference": ("onnxruntime",),
    "lake": ("pyarrow", "fsspec"),
    "sql": ("duckdb",),
    "otel": ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
}
"""What each extra of pyproject.toml installs that the service imports."""

_RELEASE_INTERVAL_S = 1.0
"""How often instances an operator released from quarantine are fed back in."""


class RadiologyService:
    """One radiology pipeline with everything that runs around it.

    Build it, then call :meth:`run` (blocks until :meth:`stop`, SIGINT or
    SIGTERM; then drains, commits and closes). :attr:`ready` is set once
    every door listens, so ports chosen with 0 can be read from
    :attr:`scp` and :attr:`stow`.
    """

    def __init__(
        self,
        settings: RadiologySettings,
        *,
        on_result: Callable[[ResultSummary], None] | None = None,
    ) -> None:
        require_extras("the radiology service", radiology_extras(settings))
        self.app = RadiologyApp(settings, on_result=on_result)
        try:
            self.landing = _landing(self.app) if settings.telemetry else None
            self.metrics: RadiologyCollector = register_radiology_metrics(self.app)
            self.scp = StorageSCP(settings.dimse, self.app.store) if settings.dimse else None
            self.stow = (
                StowServer(
                    self.app.store,
                    settings.stow.host,
                    settings.stow.port,
                    path_prefix=settings.stow.path_prefix,
                    max_concurrent_requests=settings.stow.max_concurrent_requests,
                )
                if settings.stow
                else None
            )
            self.folder = (
                FolderWatcher(settings.folder, self.app.store) if settings.folder else None
            )
            self._backend = RadiologyBackend(self.app) if settings.dashboard else None
            self.dashboard = _dashboard(self._backend, settings)
        except BaseException:
            self.app.close()
            raise
        self.ready = threading.Event()
        self._ended = threading.Event()
        self._failure: BaseException | None = None
        self._releases = threading.Event()

    # What callers watching a running service read: the pipeline's own parts.

    @property
    def settings(self) -> RadiologySettings:
        return self.app.settings

    @property
    def store(self) -> InstanceStore:
        return self.app.store

    @property
    def quarantine(self) -> QuarantineStore:
        return self.app.quarantine

    @property
    def results(self) -> ResultStore:
        return self.app.results

    @property
    def delivery(self) -> DeliveryManager | None:
        return self.app.delivery

    @property
    def runtime(self) -> Runtime:
        return self.app.runtime

    @property
    def summaries(self) -> list[ResultSummary]:
        return self.app.summaries

    @property
    def results_built(self) -> int:
        return self.app.results_built

    @property
    def lake_root(self) -> str:
        return self.app.lake_root

    def run(self) -> None:
        """Open the doors and run until :meth:`stop` (or SIGINT/SIGTERM); then close all."""
        try:
            self._open()
            self.ready.set()
            self.app.runtime.run()
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            try:
                self.close()
            finally:
                self._ended.set()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the doors are open (True) or ``timeout`` passed (False).

        For :meth:`run` on another thread: if it failed to start, its error is
        raised here at once, rather than waited out.
        """
        deadline = time.monotonic() + timeout
        while not self.ready.wait(min(0.05, timeout)):
            if self._ended.is_set():
                if self._failure is not None:
                    raise self._failure
                return False
            if time.monotonic() > deadline:
                return False
        return True

    def _open(self) -> None:
        # Process-wide, but only ever shortened: SR/SEG are built on a thread from here on.
        sys.setswitchinterval(min(sys.getswitchinterval(), _GIL_SWITCH_INTERVAL_S))
        # highdicom loads its copy of the standard on first use (~1 s): pay it
        # here, not inside the first study's latency.
        warm_up()
        for starter in (
            self.scp.start if self.scp else None,
            self.stow.start if self.stow else None,
            self.app.delivery.start if self.app.delivery else None,
            self.folder.start if self.folder else None,
            self.landing.start if self.landing else None,
            self.dashboard.start if self.dashboard else None,
        ):
            if starter is not None:
                starter()
        threading.Thread(target=self._release_loop, name="releases", daemon=True).start()

    def _release_loop(self) -> None:
        while not self._releases.wait(_RELEASE_INTERVAL_S):
            self.app.release_requested()

    def stop(self) -> None:
        """Ask :meth:`run` to drain, commit and return."""
        self.app.stop()

    def close(self) -> None:
        """Stop the doors and the dashboard, land the last telemetry, close the stores."""
        self._releases.set()
        if self.dashboard is not None:
            self.dashboard.stop()
        if self._backend is not None:
            self._backend.close()
        if self.landing is not None:
            # After the pipeline stopped: its last rows (results, deliveries) land too.
            self.landing.stop()
            self.landing.drain()
        for closer in (
            self.folder.stop if self.folder else None,
            self.scp.stop if self.scp else None,
            self.stow.stop if self.stow else None,
        ):
            if closer is not None:
                closer()
        self.app.close()


def radiology_extras(settings: RadiologySettings) -> tuple[str, ...]:
    """The extras (``pip install 'streamgale[...]'``) a service with ``settings`` needs."""
    extras = ["dicom"]
    if settings.models:
        extras.append("inference")
    if settings.telemetry:
        extras.append("lake")
    if settings.traces_endpoint:
        extras.append("otel")
    return tuple(extras)


def require_extras(feature: str, extras: tuple[str, ...]) -> None:
    """Raise one :class:`MissingExtraError` naming every extra ``feature`` needs,
    if any package of them is missing; imports nothing (quick, and no half start)."""
    missing = [m for extra in extras for m in _EXTRA_MODULES[extra] if not _installed(m)]
    if missing:
        raise MissingExtraError(feature, ",".join(extras), "', '".join(missing))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent is missing, or blocked (sys.modules[m] = None)
        return False


def _landing(app: RadiologyApp) -> Landing:
    settings = app.settings
    return Landing(
        app.telemetry_log,
        app.lake_root,
        settings.state_dir / "landing",
        storage_options=settings.lake_options,
        traces=_trace_sink(settings.traces_endpoint),
        retention_days=settings.lake_retention_days,
    )


def _trace_sink(endpoint: str | None) -> Sink[Any] | None:
    if endpoint is None:
        return None
    from streamgale.tracing import TraceSink

    sink: Sink[Any] = TraceSink(endpoint)
    return sink


def _dashboard(
    backend: RadiologyBackend | None, settings: RadiologySettings
) -> DashboardServer | None:
    if backend is None or settings.dashboard is None:
        return None
    return DashboardServer(
        backend,
        state_dir=settings.state_dir,
        host=settings.dashboard.host,
        port=settings.dashboard.port,
    )
