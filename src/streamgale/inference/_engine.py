"""The machinery behind dynamic batching: a priority queue and a batch runner.

Kept apart from the step logic so that :func:`~streamgale.inference.run_batched`
(no pipeline) and :class:`~streamgale.inference.DynamicBatcher` (a pipeline
step) batch, isolate failures and time requests in exactly the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.errors import ConfigError
from streamgale.inference.records import InferenceFailure, InferenceRequest, InferenceResult
from streamgale.inference.session import ModelSession
from streamgale.runtime.logic import Clock

__all__ = ["BatchRunner", "PendingQueue", "Waiting", "enqueue_all"]

Array = npt.NDArray[Any]


@dataclass(slots=True)
class Waiting:
    """A request in the queue, with the time it arrived (the step clock's scale)."""

    request: InferenceRequest
    arrived: float


class PendingQueue:
    """Requests waiting for a batch: highest priority first, FIFO within a priority.

    ``rows`` is the number of samples waiting, which is what fills a batch.
    """

    def __init__(self) -> None:
        self._lanes: dict[int, deque[Waiting]] = {}
        self._order: list[int] = []  # priorities present, highest first
        self.rows = 0
        self.count = 0

    def __bool__(self) -> bool:
        return self.count > 0

    def push(self, waiting: Waiting) -> None:
        priority = waiting.request.priority
        lane = self._lanes.get(priority)
        if lane is None:
            lane = self._lanes[priority] = deque()
            self._order = sorted(self._lanes, reverse=True)
        lane.append(waiting)
        self.rows += waiting.request.rows
        self.count += 1

    def oldest(self) -> float | None:
        """Arrival time of the request waiting longest, of any priority."""
        # Each lane is FIFO, so its head is its oldest; there are few lanes.
        return min((lane[0].arrived for lane in self._lanes.values()), default=None)

    def take(self, max_rows: int) -> list[Waiting]:
        """The next batch: at most ``max_rows`` rows (but always one request), by priority.

        A batch holds tensors of one sample shape and dtype (they are stacked);
        the first request of another shape ends the batch and starts the next.
        """
        batch: list[Waiting] = []
        rows = 0
        signature: tuple[Any, ...] | None = None
        for priority in self._order:
            lane = self._lanes[priority]
            while lane:
                tensor = lane[0].request.tensor
                sig = (tensor.shape[1:], tensor.dtype)
                if batch and (rows + tensor.shape[0] > max_rows or sig != signature):
                    return self._took(batch, rows)
                signature = sig
                batch.append(lane.popleft())
                rows += tensor.shape[0]
            del self._lanes[priority]
        return self._took(batch, rows)

    def _took(self, batch: list[Waiting], rows: int) -> list[Waiting]:
        self._order = [p for p in self._order if p in self._lanes]
        self.rows -= rows
        self.count -= len(batch)
        return batch

    def requests(self) -> list[InferenceRequest]:
        """Every waiting request, in the order they would run."""
        return [w.request for p in self._order for w in self._lanes[p]]


class BatchRunner:
    """Runs batches of waiting requests on one session and splits the outputs.

    Tensors are concatenated into a buffer reused from batch to batch (ONNX
    Runtime copies its outputs, so results never alias it). When the model
    raises for a batch of several requests, each is run alone once, so only
    the bad one fails and the others still get results.
    """

    def __init__(self, session: ModelSession, clock: Clock) -> None:
        if len(session.config.inputs) != 1:
            names = [s.name for s in session.config.inputs]
            raise ConfigError(
                f"dynamic batching needs a model with one input; {session.ref} has {names}",
                key="inputs",
            )
        self._session = session
        self._spec = session.config.inputs[0]
        self._clock = clock
        self._model = session.config.name
        self._version = session.config.version
        self._buffer: Array | None = None

    def admit(self, request: InferenceRequest) -> InferenceFailure | None:
        """Check a request against the model's input before it queues; a failure if unfit."""
        try:
            self._session.check_input(self._spec, request.tensor)
        except Exception as exc:
            return self.failure(request, exc)
        return None

    def failure(self, request: InferenceRequest, error: BaseException | str) -> InferenceFailure:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return InferenceFailure(request, text, self._model, self._version)

    def run(
        self,
        batch: list[Waiting],
        results: list[InferenceResult],
        failures: list[InferenceFailure],
    ) -> None:
        """Run ``batch``; append one result or one failure per request."""
        started = self._clock.now()
        try:
            outputs, rows = self._infer(batch)
        except Exception as exc:
            if len(batch) == 1:
                failures.append(self.failure(batch[0].request, exc))
                return
            for waiting in batch:  # isolate the request at fault
                self.run([waiting], results, failures)
            return
        finished = self._clock.now()
        self._split(batch, outputs, rows, started, finished, results=results)

    def _infer(self, batch: list[Waiting]) -> tuple[dict[str, Array], int]:
        tensors = [w.request.tensor for w in batch]
        if len(tensors) == 1:
            stacked = tensors[0]
        else:
            stacked = np.concatenate(tensors, axis=0, out=self._rows(tensors))
        rows = stacked.shape[0]
        outputs = self._session.run(stacked)
        for name, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != rows:
                raise ValueError(
                    f"output '{name}' of {self._session.ref} has shape {value.shape}, not "
                    f"{rows} rows like its input; per-request results need batch-major outputs"
                )
        return outputs, rows

    def _rows(self, tensors: list[Array]) -> Array:
        """A view of the reused buffer with room for ``tensors`` stacked."""
        rows = sum(t.shape[0] for t in tensors)
        first = tensors[0]
        buffer = self._buffer
        if (
            buffer is None
            or buffer.shape[0] < rows
            or buffer.shape[1:] != first.shape[1:]
            or buffer.dtype != first.dtype
        ):
            capacity = max(rows, self._session.config.max_batch_size)
            buffer = self._buffer = np.empty((capacity, *first.shape[1:]), first.dtype)
        return buffer[:rows]

    def _split(
        self,
        batch: list[Waiting],
        outputs: dict[str, Array],
        rows: int,
        started: float,
        finished: float,
        *,
        results: list[InferenceResult],
    ) -> None:
        infer_ms = (finished - started) * 1000.0
        items = list(outputs.items())
        start = 0
        for waiting in batch:
            request = waiting.request
            stop = start + request.rows
            results.append(
                InferenceResult(
                    request.key,
                    {name: value[start:stop] for name, value in items},
                    request.meta,
                    self._model,
                    self._version,
                    rows,
                    (started - waiting.arrived) * 1000.0,
                    infer_ms,
                )
            )
            start = stop


def enqueue_all(
    runner: BatchRunner,
    queue: PendingQueue,
    requests: Iterable[InferenceRequest],
    now: float,
    failures: list[InferenceFailure],
) -> None:
    """Admit ``requests`` into ``queue``; unfit ones go straight to ``failures``."""
    for request in requests:
        failure = runner.admit(request)
        if failure is None:
            queue.push(Waiting(request, now))
        else:
            failures.append(failure)
