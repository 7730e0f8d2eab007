"""``map`` and ``map_batches`` with parallelism N: the function runs in worker processes.

Whole micro-batches go to the workers (large numpy buffers through shared
memory, see :mod:`streamgale.runtime.workers`), and results come back in
submission order, so record order is kept. Per-record failures are caught in
the worker and come back as dead letters with the remote traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from streamgale.batch import Batch, iter_rows
from streamgale.errors import StepError
from streamgale.runtime.logic import Emit, StepContext, StepLogic
from streamgale.runtime.workers import WorkerFailure, WorkerPool

__all__ = ["ParallelMapLogic", "RemoteStepError"]

_POLL_INTERVAL = 0.001
"""How soon to look for finished batches while some are in flight."""


class RemoteStepError(StepError):
    """A user function raised in a worker process; carries its traceback."""

    def __init__(self, step_id: str, error_type: str, message: str, traceback: str) -> None:
        super().__init__(step_id, RuntimeError(f"{error_type}: {message}"))
        self.remote_traceback = traceback


def apply_per_record(fn: Callable[[Any], Any], batch: Batch) -> tuple[list[Any], list[Any]]:
    """Runs in the worker: map each record, collecting failures instead of raising."""
    import traceback

    out, failed = [], []
    for record in iter_rows(batch):
        try:
            out.append(fn(record))
        except Exception as exc:
            failed.append((record, type(exc).__name__, str(exc), traceback.format_exc()))
    return out, failed


def apply_to_batch(fn: Callable[[Batch], Batch], batch: Batch) -> tuple[Batch, list[Any]]:
    return fn(batch), []


class ParallelMapLogic(StepLogic):
    """Runs ``fn`` over micro-batches in ``processes`` worker processes."""

    def __init__(
        self, ctx: StepContext, fn: Callable[..., Any], processes: int, *, per_record: bool
    ) -> None:
        self._ctx = ctx
        wrapper = apply_per_record if per_record else apply_to_batch
        self._pool = WorkerPool(functools.partial(wrapper, fn), processes)
        self._inflight: list[Batch] = []

    def on_batch(self, port: int, batch: Batch) -> Emit:
        self._pool.submit(batch)
        self._inflight.append(batch)
        return self._collect(self._pool.poll())

    def next_awake(self) -> float | None:
        return self._ctx.clock.now() + _POLL_INTERVAL if self._inflight else None

    def on_tick(self, now: float) -> Emit:
        return self._collect(self._pool.poll())

    def drain(self) -> Emit:
        return self._collect(self._pool.drain())

    def on_eof(self) -> Emit:
        return self.drain()

    def close(self) -> None:
        self._pool.close()

    def _collect(self, results: list[Any]) -> Emit:
        emit: Emit = []
        for result in results:
            batch = self._inflight.pop(0)
            if isinstance(result, WorkerFailure):
                error = RemoteStepError(
                    self._ctx.step_id, result.exc_type, result.message, result.traceback
                )
                self._ctx.dead_letter(batch, error, batch=True)
                continue
            out, failed = result
            for record, etype, message, tb in failed:
                error = RemoteStepError(self._ctx.step_id, etype, message, tb)
                self._ctx.dead_letter(record, error)
            if len(out):
                emit.append((0, out))
        return emit
