"""``map`` and ``map_batches`` with parallelism N: the function runs off the driver.

With the default process executor it runs in worker processes.

Whole micro-batches go to the workers (large numpy buffers through shared
memory, see :mod:`streamgale.runtime.workers`), and results come back in
submission order, so record order is kept. Per-record failures are caught in
the worker and come back as dead letters with the remote traceback.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from streamgale.batch import Batch, iter_rows
from streamgale.errors import StepError
from streamgale.runtime.logic import Emit, StepContext, StepLogic
from streamgale.runtime.workers import WorkerFailure, WorkerPool

__all__ = ["ParallelMapLogic", "RemoteStepError", "ThreadPool"]

_POLL_INTERVAL = 0.001
"""How soon to look for finished batches while some are in flight (processes)."""
_THREAD_POLL_INTERVAL = 0.01
"""The same for threads: polling more often would take the GIL from the very
threads doing the work."""


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


class ThreadPool:
    """:class:`WorkerPool`'s interface on threads.

    For functions that cannot be pickled (they hold open stores) or that must
    not run on the driver thread (long result encoding): the driver keeps
    moving other steps' batches while these run. Results come back in
    submission order; at most ``2 * threads`` batches are in flight.
    """

    def __init__(self, fn: Callable[[Any], Any], threads: int, *, name: str) -> None:
        self._fn = fn
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._futures: deque[Future[Any]] = deque()
        self._max_inflight = 2 * threads

    def submit(self, item: Any) -> None:
        if len(self._futures) >= self._max_inflight:
            wait([self._futures[0]])  # backpressure: the oldest must finish first
        self._futures.append(self._executor.submit(self._fn, item))

    def poll(self) -> list[Any]:
        out = []
        while self._futures and self._futures[0].done():
            out.append(_outcome(self._futures.popleft()))
        return out

    def drain(self) -> list[Any]:
        out = []
        while self._futures:
            out.append(_outcome(self._futures.popleft()))
        return out

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _outcome(future: Future[Any]) -> Any:
    error = future.exception()
    return future.result() if error is None else WorkerFailure.from_exception(error)


class ParallelMapLogic(StepLogic):
    """Runs ``fn`` over micro-batches in ``n`` worker processes, or threads."""

    def __init__(
        self,
        ctx: StepContext,
        fn: Callable[..., Any],
        n: int,
        *,
        per_record: bool,
        threads: bool = False,
    ) -> None:
        self._ctx = ctx
        wrapper = functools.partial(apply_per_record if per_record else apply_to_batch, fn)
        self._pool: WorkerPool | ThreadPool = (
            ThreadPool(wrapper, n, name=f"step-{ctx.step_id}")
            if threads
            else WorkerPool(wrapper, n)
        )
        self._inflight: list[Batch] = []
        self._poll_interval = _THREAD_POLL_INTERVAL if threads else _POLL_INTERVAL

    def on_batch(self, port: int, batch: Batch) -> Emit:
        self._pool.submit(batch)
        self._inflight.append(batch)
        return self._collect(self._pool.poll())

    def next_awake(self) -> float | None:
        return self._ctx.clock.now() + self._poll_interval if self._inflight else None

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
