"""The steps that carry telemetry rows from the log into the lake (and traces).

:func:`land` adds them to any pipeline. :class:`Landing` runs them in a
runtime of their own beside the pipeline being measured, so that on a clean
shutdown it can stop *after* that pipeline and carry its last rows too
(:meth:`Landing.drain`). Either way the rows get the runtime's guarantees: a
checkpoint commits the topic offset only after the lake sink has written
what came before it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamgale.connectors.base import Sink
from streamgale.connectors.log import LogSource
from streamgale.dataflow import Pipeline
from streamgale.fsutil import is_out_of_space
from streamgale.log.base import Log
from streamgale.runtime.config import RuntimeConfig
from streamgale.runtime.runner import Runtime
from streamgale.telemetry.recorder import TOPIC

__all__ = ["Landing", "land"]

logger = logging.getLogger(__name__)


def land(
    pipeline: Pipeline,
    log: Log,
    lake_root: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    traces: Sink[Any] | None = None,
    topic: str = TOPIC,
    until_end: bool = False,
    poll_interval: float = 0.05,
) -> None:
    """Add a ``telemetry`` source reading ``topic`` and a ``lake`` sink writing
    its rows under ``lake_root`` (a directory or an fsspec URL such as
    ``s3://bucket/lake``); with ``traces``, also a ``traces`` sink."""
    from streamgale.lake import LakeSink

    # Landing shares the GIL with the pipeline it measures: small batches every
    # 50 ms keep each burst of its Python work short (250 ms x 512 records
    # doubled the pipeline's p95 latency), and still cost little throughput.
    source = LogSource(
        log,
        topic,
        group="telemetry-landing",
        until_end=until_end,
        max_records=64,
        poll_interval=poll_interval,
    )
    rows = pipeline.source("telemetry", source)
    rows.sink("lake", LakeSink(lake_root, storage_options=dict(storage_options or {})))
    if traces is not None:
        rows.sink("traces", traces)


class Landing:
    """Lands ``topic`` of ``log`` in the lake, in its own runtime under ``state_dir``.

    A landing that fails starts again after ``restart_after`` seconds.
    """

    def __init__(
        self,
        log: Log,
        lake_root: str,
        state_dir: Path,
        *,
        storage_options: Mapping[str, Any] | None = None,
        traces: Sink[Any] | None = None,
        checkpoint_interval: float = 2.0,
        maintain_every: float = 600.0,
        retention_days: float | None = None,
        restart_after: float = 5.0,
    ) -> None:
        self._maintain_every = maintain_every
        self._retention_days = retention_days
        self._stopping = threading.Event()
        self._maintenance: threading.Thread | None = None
        self._log = log
        self._lake_root = lake_root
        self._state_dir = state_dir
        self._storage_options = dict(storage_options or {})
        self._traces = traces
        self._interval = checkpoint_interval
        self._runtime: Runtime | None = None
        self._runtime_lock = threading.Lock()
        self._restart_after = restart_after
        self._thread: threading.Thread | None = None

    def _runtime_for(self, *, until_end: bool) -> Runtime:
        pipeline = Pipeline("telemetry-landing")
        land(
            pipeline,
            self._log,
            self._lake_root,
            storage_options=self._storage_options,
            traces=self._traces,
            until_end=until_end,
        )
        config = RuntimeConfig(state_dir=self._state_dir, checkpoint_interval=self._interval)
        return Runtime(pipeline, config)

    def start(self) -> None:
        """Follow the topic on a background thread until :meth:`stop`."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._follow, name="telemetry-landing", daemon=True)
        self._thread.start()
        self._maintenance = threading.Thread(
            target=self._maintain_loop, name="lake-maintenance", daemon=True
        )
        self._maintenance.start()

    def _follow(self) -> None:
        """Run the landing; after a failure (a lake that cannot be reached, say), log
        it and start again from the last checkpoint: landing never stops for good
        while the pipeline it measures runs."""
        while True:
            with self._runtime_lock:
                if self._stopping.is_set():
                    return
                self._runtime = runtime = self._runtime_for(until_end=False)
            try:
                runtime.run()
                return  # stopped
            except Exception:
                logger.exception(
                    "telemetry landing failed; starting it again in %.0f s", self._restart_after
                )
            if self._stopping.wait(self._restart_after):
                return

    def maintain(self) -> None:
        """Compact small files (one per checkpoint and partition) and apply retention."""
        from streamgale.lake import Lake

        lake = Lake(self._lake_root, storage_options=self._storage_options)
        lake.compact()
        if self._retention_days is not None:
            lake.apply_retention(self._retention_days)

    def _maintain_loop(self) -> None:
        while not self._stopping.wait(self._maintain_every):
            try:
                self.maintain()
            except Exception:  # maintenance is best effort; the next round tries again
                logger.exception(
                    "lake maintenance failed; retrying in %.0f s", self._maintain_every
                )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop following (commits what was landed); idempotent."""
        self._stopping.set()
        if self._maintenance is not None:
            self._maintenance.join(timeout)
            self._maintenance = None
        with self._runtime_lock:
            if self._runtime is not None:
                self._runtime.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self._runtime = self._thread = None

    def drain(self) -> None:
        """Land every row appended so far, then return (call after :meth:`stop`).

        On a full disk it returns without landing them: the rows stay on the
        topic and land at the next start, and the shutdown goes on.
        """
        try:
            self._runtime_for(until_end=True).run()
        except Exception as exc:
            if not is_out_of_space(exc):
                raise
            logger.warning(
                "the last telemetry rows were not landed, the disk is full (%s); "
                "they stay in the telemetry log and land at the next start",
                exc,
            )
