"""The local runtime: runs a pipeline in this process.

One driver thread moves micro-batches through bounded channels. Each turn it
lets downstream steps consume first (freeing room), fires due timers,
propagates watermarks, polls sources that have room, and checkpoints when
due. Sources that get data from other threads (an HTTP server) wake the
driver; otherwise it sleeps at most ``idle_wait``.

Checkpoints are consistent: the driver stops polling, lets the channels
drain for at most ``checkpoint_drain`` seconds, finishes the work steps have
in flight (worker processes, threads), flushes every sink (their
acknowledgement) and the dead-letter store, and only then saves one snapshot
holding every source position, every step's state and the batches still
queued in channels. Offsets are committed after that. A crash at any point
resumes from the last snapshot, queued batches first; transactional sinks
discard output written after it, so the result is exactly once. Bounding
the drain is what lets a checkpoint land within a second of being due even
behind a slow step's backlog, so a process killed every few seconds (a crash
loop) still makes progress instead of redoing the same work forever.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streamgale.batch import Batch
from streamgale.connectors.base import BuildContext
from streamgale.dataflow.pipeline import Pipeline
from streamgale.errors import SinkError, StepError
from streamgale.fsutil import is_out_of_space
from streamgale.runtime.build import build_graph
from streamgale.runtime.checkpoint import (
    collect_snapshot,
    has_batches,
    open_stores,
    queued_picklable,
    replay_channel,
    restore_channels,
)
from streamgale.runtime.config import RuntimeConfig
from streamgale.runtime.graph import Node, OpNode, SinkNode, SourceNode, Watermark
from streamgale.runtime.instruments import RunMetrics
from streamgale.runtime.logic import Clock, SystemClock
from streamgale.state.base import Snapshot

__all__ = ["Runtime"]

log = logging.getLogger(__name__)

_BATCHES_PER_TURN = 4
"""Input batches one step may take per turn, so no step starves the others."""


class Runtime:
    """Runs one pipeline locally; see the module docstring for how."""

    def __init__(
        self, pipeline: Pipeline, config: RuntimeConfig | None = None, *, clock: Clock | None = None
    ) -> None:
        pipeline.validate()
        self.pipeline = pipeline
        self.config = config or RuntimeConfig()
        self.clock = clock or SystemClock()
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._epoch = 0
        self._nodes: list[Node] = []
        self._replaying: list[int] = []
        self._changed = True
        """Something ran since the last checkpoint (an idle run does not write snapshots)."""
        self._scratch: Path | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="streamgale-checkpoint")
        self._inflight: Future[tuple[int, float]] | None = None
        self._disk_full = False  # checkpoints are being skipped for a full disk
        self.metrics = RunMetrics(pipeline.name, self.config.metrics_port)

    # Public control ------------------------------------------------------
    def stop(self) -> None:
        """Ask the run to drain, commit and return; safe from any thread or signal."""
        self._stop.set()
        self.wake.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for (steps that wait may give up)."""
        return self._stop.is_set()

    @property
    def epoch(self) -> int:
        """Epoch of the last committed checkpoint."""
        return self._epoch

    def run(self) -> None:
        """Run until every source ends, :meth:`stop` is called, or a signal arrives."""
        store, dead_letters = open_stores(self.config.state_dir)
        self._store, self._dead_letters = store, dead_letters
        snapshot = store.load()
        self._epoch = snapshot.epoch if snapshot else 0
        try:
            with self._signals():
                self._nodes = build_graph(self, snapshot or Snapshot(epoch=0))
                restore_channels(self._nodes, snapshot or Snapshot(epoch=0))
                self._replaying = self._inject_replays()
                self._loop()
        finally:
            self._writer.shutdown(wait=True)
            self._close_all()
            dead_letters.close()
            store.close()
            self.metrics.close()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)

    # The driver loop -----------------------------------------------------
    def _loop(self) -> None:
        cfg = self.config
        started = time.monotonic()
        next_checkpoint = started + cfg.checkpoint_interval
        while True:
            progressed = self._process_all()
            progressed |= self._fire_timers()
            self._propagate_watermarks()
            progressed |= self._propagate_eof()
            if all(n.done for n in self._nodes):
                self._checkpoint(final=True)
                return
            now = time.monotonic()
            if self._stop.is_set() or (
                cfg.max_run_seconds is not None and now - started >= cfg.max_run_seconds
            ):
                self._checkpoint(final=True)
                return
            progressed |= self._poll_sources()
            if self._inflight is not None and self._inflight.done():
                self._complete_checkpoint()
            self._changed |= progressed
            if now >= next_checkpoint:
                self._checkpoint()
                next_checkpoint = time.monotonic() + cfg.checkpoint_interval
            if not progressed:
                self._idle(next_checkpoint)

    def _process_all(self, deadline: float | None = None) -> bool:
        """Let every step consume, sinks first; with ``deadline`` (perf_counter), one
        batch per step and none once it has passed (a bounded checkpoint drain)."""
        progressed = False
        for node in reversed(self._nodes):
            if deadline is not None and time.perf_counter() >= deadline:
                break
            if isinstance(node, SinkNode):
                progressed |= self._drain_sink(node)
            elif isinstance(node, OpNode):
                progressed |= self._run_op(node, _BATCHES_PER_TURN if deadline is None else 1)
        return progressed

    def _run_op(self, node: OpNode, budget: int = _BATCHES_PER_TURN) -> bool:
        taken = 0
        while taken < budget and node.has_room() and node.pending_input():
            for port, channel in enumerate(node.inputs):
                if not channel.items:
                    continue
                item = channel.pop()
                if isinstance(item, Watermark):
                    self._advance_input_watermark(node, port, item.value)
                else:
                    self._apply(node, port, item)
                taken += 1
        return taken > 0

    def _advance_input_watermark(self, node: OpNode, port: int, value: float) -> None:
        assert node.logic is not None
        node.port_watermarks[port] = value
        incoming = min(node.port_watermarks)
        if incoming > node.input_watermark:
            node.input_watermark = incoming
            node.route(node.logic.on_watermark(incoming))

    def _apply(self, node: OpNode, port: int, batch: Batch) -> None:
        assert node.logic is not None  # built for every OpNode
        start = time.perf_counter()
        try:
            emitted = node.route(node.logic.on_batch(port, batch))
        except Exception as exc:
            # A step whose logic fails for a whole batch must not stop the
            # pipeline: the batch becomes one dead letter with the error.
            self.dead_letter(node.step_id, batch, StepError(node.step_id, exc), batch=True)
            emitted = 0
        self.metrics.step(node.step_id).record(len(batch), emitted, time.perf_counter() - start)

    def _drain_sink(self, node: SinkNode) -> bool:
        assert node.input is not None
        progressed = False
        while node.input.items:
            item = node.input.pop()
            if not isinstance(item, Watermark):
                self._write(node, item)
            progressed = True
        return progressed

    def _write(self, node: SinkNode, batch: Batch) -> None:
        _, part = node.parts[node.next_part % len(node.parts)]
        node.next_part += 1
        delay = self.config.sink_backoff
        start = time.perf_counter()
        for attempt in range(self.config.sink_retries + 1):
            try:
                part.write_batch(batch)
                self.metrics.step(node.step_id).record(len(batch), 0, time.perf_counter() - start)
                return
            except Exception as exc:
                last = exc
                self.metrics.step(node.step_id).error()
                if attempt < self.config.sink_retries:
                    log.warning(
                        "sink '%s' failed (%s: %s); retry %d/%d in %.2fs",
                        node.step_id,
                        type(exc).__name__,
                        exc,
                        attempt + 1,
                        self.config.sink_retries,
                        delay,
                    )
                    time.sleep(delay)
                    delay = min(delay * 2, self.config.sink_backoff_max)
        error = SinkError(node.step_id, self.config.sink_retries + 1, last)
        log.error("%s", error)
        self.dead_letter(node.step_id, batch, error, batch=True)

    def _fire_timers(self) -> bool:
        progressed = False
        for node in self._nodes:
            if isinstance(node, OpNode) and node.logic is not None and not node.done:
                due = node.logic.next_awake()
                # Read the clock after asking: a deadline that has passed may be
                # reported as "now", which must count as due.
                now = self.clock.now()
                if due is not None and due <= now:
                    node.route(node.logic.on_tick(now))
                    progressed = True
        return progressed

    def _propagate_watermarks(self) -> None:
        """Send each step's output watermark downstream, behind what it emitted."""
        for node in self._nodes:
            if isinstance(node, OpNode) and not node.done and node.logic is not None:
                outgoing = max(node.logic.watermark(), node.input_watermark)
                self.metrics.watermark(node.step_id, outgoing)
                node.set_watermark(outgoing)

    def _propagate_eof(self) -> bool:
        progressed = False
        for node in self._nodes:
            if node.done:
                continue
            if isinstance(node, OpNode) and node.inputs_drained():
                assert node.logic is not None
                node.route(node.logic.drain())
                node.route(node.logic.on_eof())
                node.close_outputs()
                node.done = progressed = True
            elif isinstance(node, SinkNode) and node.input is not None and node.input.drained:
                node.done = progressed = True
        return progressed

    def _poll_sources(self) -> bool:
        woken = self.wake.is_set()
        self.wake.clear()
        now = time.monotonic()
        progressed = False
        for node in self._nodes:
            if isinstance(node, SourceNode) and not node.done and node.has_room():
                progressed |= self._poll(node, now, woken)
        return progressed

    def _poll(self, node: SourceNode, now: float, woken: bool) -> bool:
        progressed = False
        for part in node.parts:
            if part.exhausted or (not woken and part.awake_at and now < part.awake_at):
                continue
            try:
                batch = part.partition.next_batch()
            except StopIteration:
                part.exhausted = True
                continue
            except Exception as exc:
                raise StepError(node.step_id, exc) from exc
            if len(batch):
                batch = self._reject_bad_records(node.step_id, batch)
                node.route([(0, batch)])
                self.metrics.step(node.step_id).record(0, len(batch), 0.0)
                part.awake_at = None
                progressed = True
            else:
                part.awake_at = part.partition.next_awake() or now + self.config.idle_wait
        if all(p.exhausted for p in node.parts):
            node.done = True
            node.close_outputs()
            progressed = True
        return progressed

    def _reject_bad_records(self, step_id: str, batch: Batch) -> Batch:
        from streamgale.connectors.base import BadRecord

        if isinstance(batch, list) and any(type(r) is BadRecord for r in batch):
            for r in batch:
                if type(r) is BadRecord:
                    self.dead_letter(step_id, r, r.as_error())
            return [r for r in batch if type(r) is not BadRecord]
        return batch

    def _idle(self, next_checkpoint: float) -> None:
        now = time.monotonic()
        deadline = next_checkpoint
        for node in self._nodes:
            if isinstance(node, SourceNode):
                deadline = min([deadline, *(p.awake_at for p in node.parts if p.awake_at)])
        timeout = min(max(deadline - now, 0.0), self.config.idle_wait)
        logic_due = self._next_logic_awake()
        if logic_due is not None:
            timeout = min(timeout, max(logic_due - self.clock.now(), 0.0))
        if timeout > 0:
            self.wake.wait(timeout)

    def _next_logic_awake(self) -> float | None:
        dues = [
            due
            for node in self._nodes
            if isinstance(node, OpNode) and node.logic is not None and not node.done
            for due in [node.logic.next_awake()]
            if due is not None
        ]
        return min(dues) if dues else None

    # Checkpoints -----------------------------------------------------------
    def _checkpoint(self, *, final: bool = False) -> None:
        """Take a consistent snapshot; persist it on the writer thread.

        The driver only drains, flushes sinks and captures state; the fsyncs
        of the snapshot and of the log offsets happen off the driver, so
        records keep flowing meanwhile. One checkpoint is in flight at most.
        An idle pipeline skips it: same state, same offsets, nothing to write.
        """
        if not final and not self._changed and self._inflight is None:
            # Letters marked for replay while idle are fed in now, not at a checkpoint.
            self._replaying = self._inject_replays()
            return
        if self._inflight is not None:
            if not final and not self._inflight.done():
                return  # still writing the previous one; try again next interval
            self._complete_checkpoint(final=final)
        started = time.perf_counter()
        self.metrics.sample_channels()
        self._quiesce()
        try:
            for node in self._nodes:
                if isinstance(node, SinkNode):
                    for _, sink_part in node.parts:
                        sink_part.flush()
            self._dead_letters.flush()
        except Exception as exc:
            if final or not is_out_of_space(exc):
                raise
            self._skipped(exc)
            return
        snapshot = collect_snapshot(self._nodes, self._epoch + 1)
        self._changed = False
        self._inflight = self._writer.submit(self._persist, snapshot, started)
        if final:
            self._complete_checkpoint(final=True)

    def _persist(self, snapshot: Snapshot, started: float) -> tuple[int, float]:
        """On the writer thread: make the snapshot durable, then commit offsets."""
        self._store.save(snapshot)
        for node in self._nodes:
            if isinstance(node, SourceNode):
                for part in node.parts:
                    part.partition.on_commit()
        return snapshot.epoch, time.perf_counter() - started

    def _complete_checkpoint(self, *, final: bool = False) -> None:
        """On the driver: the checkpoint in flight is durable (or raise its error)."""
        assert self._inflight is not None
        try:
            epoch, seconds = self._inflight.result()
        except Exception as exc:
            self._inflight = None
            if final or not is_out_of_space(exc):
                raise
            self._skipped(exc)
            self._changed = True  # not saved: the next interval must try again, idle or not
            return
        self._inflight = None
        if self._disk_full:
            self._disk_full = False
            log.warning("checkpoints resumed: epoch %d is durable", epoch)
        self._epoch = epoch
        self._dead_letters.mark_replayed(self._replaying)
        # Letters marked for replay while running are fed in after a checkpoint;
        # after the last one they wait for the next run instead.
        self._replaying = [] if final else self._inject_replays()
        self.metrics.checkpoint(epoch, seconds)

    def _skipped(self, exc: BaseException) -> None:
        """A checkpoint failed for a full disk: the last durable one stays, and the
        next interval tries again; the process stays up until space returns."""
        if not self._disk_full:
            log.warning("checkpoint skipped, the disk is full (%s); retrying every interval", exc)
        self._disk_full = True

    def _quiesce(self) -> None:
        """Polling no source, run until no batch is in a channel or in flight, or until
        ``checkpoint_drain`` has passed; then only finish the work in flight, so that
        what is left is in channels, where the snapshot saves it (unless it cannot be
        pickled: then every channel is drained, as checkpoints always did before)."""
        deadline: float | None = time.perf_counter() + self.config.checkpoint_drain
        while True:
            self._process_all(deadline)
            drained = self._drain_logic()
            if not drained and not any(has_batches(n) for n in self._nodes):
                return
            if deadline is not None and time.perf_counter() >= deadline:
                while self._drain_logic():
                    pass
                if queued_picklable(self._nodes):
                    return
                # Records that cannot be saved travel between steps: drain them all.
                log.debug("queued records cannot be pickled; draining every channel")
                deadline = None

    def _drain_logic(self) -> bool:
        """Finish every step's asynchronous work; whether any of it emitted."""
        drained = False
        for node in self._nodes:
            if isinstance(node, OpNode) and node.logic is not None and not node.done:
                drained |= node.route(node.logic.drain()) > 0
        return drained

    def _inject_replays(self) -> list[int]:
        by_id = {n.step_id: n for n in self._nodes}
        injected = []
        for letter in self._dead_letters.take_replays(self.pipeline.name):
            node = by_id.get(letter.step_id)
            channel = replay_channel(node)
            if channel is None:
                log.warning(
                    "dead letter %d of step '%s' cannot be replayed (not an operator or sink "
                    "of this pipeline); it stays marked for replay",
                    letter.id,
                    letter.step_id,
                )
                continue
            payload = letter.payload
            channel.push(payload if letter.is_batch else [payload])
            injected.append(letter.id)
        return injected

    # Plumbing --------------------------------------------------------------
    def dead_letter(
        self, step_id: str, payload: Any, error: BaseException, *, batch: bool = False
    ) -> None:
        """Keep a failed record (or batch) in the dead-letter store."""
        self._dead_letters.add(self.pipeline.name, step_id, payload, error, batch=batch)
        self.metrics.step(step_id).dead_letter()

    def build_context(self, step_id: str) -> BuildContext:
        base = self.config.state_dir
        if base is None:
            # Without a state directory, connectors still get a private folder,
            # in a temporary root removed when the run ends.
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix=f"streamgale-{self.pipeline.name}-"))
            base = self._scratch
        state_dir = base / "steps" / step_id
        state_dir.mkdir(parents=True, exist_ok=True)
        return BuildContext(step_id=step_id, state_dir=state_dir, wake=self.wake)

    def _close_all(self) -> None:
        for node in self._nodes:
            closables: list[Any] = []
            if isinstance(node, SourceNode):
                closables = [p.partition for p in node.parts]
            elif isinstance(node, SinkNode):
                closables = [p for _, p in node.parts]
            elif isinstance(node, OpNode) and node.logic is not None:
                closables = [node.logic]
            for closable in closables:
                close = getattr(closable, "close", None)
                if close is None:
                    continue
                try:
                    close()
                except Exception:
                    log.exception("closing step '%s' failed", node.step_id)

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if (
            not self.config.handle_signals
            or threading.current_thread() is not threading.main_thread()
        ):
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, lambda *_: self.stop())
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
