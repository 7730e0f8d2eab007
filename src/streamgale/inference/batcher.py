"""Dynamic micro-batching: many requests, one model run.

Requests from any instance, series or study queue in the step. A batch runs
as soon as ``max_batch_size`` rows wait, or ``max_wait_ms`` after the oldest
waiting request arrived, whichever comes first, or at once when requests
come more than ``max_wait_ms`` apart (waiting would not fill the batch, only
delay it); it is one ``ModelSession.run`` on the stacked tensors, and each
request gets its own :class:`InferenceResult` (port 0, ``results``). When more
rows wait than a batch holds, higher ``priority`` goes first (STAT before
routine), first in first out within a priority.

A model that raises for a batch does not lose the batch: each request is run
alone once, so only a request the model really cannot process ends as an
:class:`InferenceFailure` (port 1, ``failures``), and the model stays loaded.
Requests that do not fit the model's input (dtype, shape) fail at once,
without a model run.

>>> import numpy as np, tempfile, pathlib, onnx
>>> from onnx import TensorProto, helper
>>> from streamgale import Pipeline
>>> from streamgale.inference import ModelConfig, ModelSession, TensorSpec
>>> from streamgale.testing import TestingSource, run_to_list
>>> graph = helper.make_graph(
...     [helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1], keepdims=0)], "mean",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
...     [helper.make_tensor_value_info("mean", TensorProto.FLOAT, [None])])
>>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "mean.onnx"
>>> onnx.save(model, path)
>>> session = ModelSession(ModelConfig("mean", "1", path, "classification",
...                                     (TensorSpec("x", (-1, 4)),), ("mean",)))
>>> requests = [InferenceRequest(f"r{i}", np.full((1, 4), i, np.float32)) for i in range(3)]
>>> p = Pipeline("doc")
>>> out = infer(p.source("in", TestingSource(requests)), "model", session)
>>> [(r.key, float(r.outputs["mean"][0]), r.batch_size) for r in run_to_list(out.results)]
[('r0', 0.0, 3), ('r1', 1.0, 3), ('r2', 2.0, 3)]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from streamgale.batch import Batch, iter_rows
from streamgale.dataflow.steps import StreamRef
from streamgale.dataflow.stream import Stream
from streamgale.errors import ConfigError, InferenceError, PipelineDefinitionError
from streamgale.inference import _checks as checks
from streamgale.inference._engine import BatchRunner, PendingQueue, Waiting, enqueue_all
from streamgale.inference.records import InferenceFailure, InferenceRequest, InferenceResult
from streamgale.inference.registry import ModelRegistry
from streamgale.inference.session import ModelSession
from streamgale.runtime.logic import Clock, Emit, StepContext, StepLogic, SystemClock

__all__ = [
    "BatchOutcome",
    "DynamicBatcher",
    "InferenceStreams",
    "infer",
    "run_batched",
]

log = logging.getLogger(__name__)


class DynamicBatcher(StepLogic):
    """The runtime logic of an inference step; build it with :func:`infer`.

    ``max_batch_size`` (rows) and ``max_wait_ms`` default to the model
    config's. Time comes from ``ctx.clock``.

    Checkpoints: requests waiting in the step are *not* state. Before every
    checkpoint the runtime calls :meth:`drain`, which runs everything waiting
    through the model at once (a batch cut short by the checkpoint), so the
    results are downstream before the snapshot is taken and :meth:`snapshot`
    is empty. Should a snapshot ever be taken without a drain, it holds the
    waiting requests, and a restart queues them again, so none is lost.
    """

    def __init__(
        self,
        ctx: StepContext,
        session: ModelSession,
        *,
        max_batch_size: int | None = None,
        max_wait_ms: float | None = None,
        resume_state: list[InferenceRequest] | None = None,
    ) -> None:
        self._ctx = ctx
        self._clock = ctx.clock
        self._max_rows, self._max_wait = _limits(session, max_batch_size, max_wait_ms)
        self._runner = BatchRunner(session, ctx.clock)
        self._queue = PendingQueue()
        now = self._clock.now()
        self._last_arrival = now
        for request in resume_state or ():
            self._queue.push(Waiting(request, now))

    def on_batch(self, port: int, batch: Batch) -> Emit:
        now = self._clock.now()
        # Requests further apart than max_wait: the next one would come too late to
        # join this batch, so waiting for it only adds max_wait to every instance
        # (at 100 images/s, 5 ms of the demo model's ~25 ms median).
        sparse = now - self._last_arrival > self._max_wait
        self._last_arrival = now
        failures: list[InferenceFailure] = []
        enqueue_all(self._runner, self._queue, self._requests(batch), now, failures)
        return self._dispatch(now, failures=failures, everything=sparse)

    def next_awake(self) -> float | None:
        oldest = self._queue.oldest()
        return None if oldest is None else oldest + self._max_wait

    def on_tick(self, now: float) -> Emit:
        return self._dispatch(now)

    def drain(self) -> Emit:
        """Run every waiting request now (before a checkpoint; see the class docstring)."""
        return self._dispatch(self._clock.now(), everything=True)

    def on_eof(self) -> Emit:
        return self.drain()

    def snapshot(self) -> list[InferenceRequest] | None:
        """The requests still waiting: none after :meth:`drain`."""
        return self._queue.requests() or None

    def _requests(self, batch: Batch) -> Iterator[InferenceRequest]:
        for record in iter_rows(batch):
            if type(record) is InferenceRequest:
                yield record
                continue
            try:
                yield InferenceRequest.from_record(record)
            except InferenceError as exc:
                self._ctx.dead_letter(record, exc)

    def _dispatch(
        self,
        now: float,
        *,
        failures: list[InferenceFailure] | None = None,
        everything: bool = False,
    ) -> Emit:
        queue, max_rows, deadline = self._queue, self._max_rows, now - self._max_wait
        results: list[InferenceResult] = []
        failed = failures if failures is not None else []
        while queue:
            if not (everything or queue.rows >= max_rows):
                oldest = queue.oldest()
                if oldest is None or oldest > deadline:
                    break
            self._runner.run(queue.take(max_rows), results, failed)
        return _emit(results, failed)


def _limits(
    session: ModelSession, max_batch_size: int | None, max_wait_ms: float | None
) -> tuple[int, float]:
    """Rows per batch and the wait in seconds: the overrides, checked, or the config's."""
    config = session.config
    rows = config.max_batch_size
    if max_batch_size is not None:
        rows = checks.check_int(max_batch_size, "max_batch_size", minimum=1, maximum=4096)
    wait_ms = config.max_wait_ms
    if max_wait_ms is not None:
        wait_ms = checks.check_number(max_wait_ms, "max_wait_ms", minimum=0.0, maximum=60_000.0)
    return rows, wait_ms / 1000.0


def _emit(results: list[InferenceResult], failures: list[InferenceFailure]) -> Emit:
    emit: Emit = [(0, results)] if results else []
    if failures:
        for failure in failures:
            log.warning("inference failed for %s: %s", failure.key, failure.error)
        emit.append((1, failures))
    return emit


class InferenceStreams(NamedTuple):
    """The two outputs of :func:`infer`; unpack as ``results, failures = infer(...)``."""

    results: Stream[InferenceResult]
    failures: Stream[InferenceFailure]


def infer(
    stream: Stream[Any],
    step_id: str,
    model: ModelSession | ModelRegistry,
    *,
    name: str | None = None,
    version: str | None = None,
    max_batch_size: int | None = None,
    max_wait_ms: float | None = None,
) -> InferenceStreams:
    """Add a dynamically batched inference step reading ``stream``'s requests.

    ``model`` is a loaded :class:`ModelSession`, or a :class:`ModelRegistry`
    with the model's ``name`` (and ``version``; default the newest). The
    session is shared, not copied: the model stays loaded across runs.
    ``max_batch_size`` and ``max_wait_ms`` override the model config's.
    Records that are not requests go to the dead-letter store. Route
    ``failures`` somewhere (quarantine): failures no step reads are dropped
    after being logged.
    """
    session = _resolve(step_id, model, name, version)
    try:
        _limits(session, max_batch_size, max_wait_ms)
        BatchRunner(session, SystemClock())  # one-input check, before the pipeline runs
    except ConfigError as exc:
        raise PipelineDefinitionError(f"infer '{step_id}': {exc}") from None

    def build(ctx: StepContext, resume: Any | None) -> StepLogic:
        return DynamicBatcher(
            ctx,
            session,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            resume_state=resume,
        )

    step = stream._op(step_id, "infer", build, ports=("out", "failed"))
    pipeline = stream.pipeline
    return InferenceStreams(
        Stream(pipeline, StreamRef(step.step_id, 0)),
        Stream(pipeline, StreamRef(step.step_id, 1)),
    )


def _resolve(
    step_id: str, model: ModelSession | ModelRegistry, name: str | None, version: str | None
) -> ModelSession:
    if isinstance(model, ModelSession):
        if name is not None and name not in (model.config.name, model.ref):
            raise PipelineDefinitionError(
                f"infer '{step_id}': name={name!r} does not match the session's model {model.ref}"
            )
        return model
    if isinstance(model, ModelRegistry):
        if name is None:
            raise PipelineDefinitionError(
                f"infer '{step_id}': with a registry, say which model: name=... "
                f"(loaded: {', '.join(model.refs()) or 'none'})"
            )
        try:
            return model.get(name, version)
        except ConfigError as exc:
            raise PipelineDefinitionError(f"infer '{step_id}': {exc}") from None
    raise PipelineDefinitionError(
        f"infer '{step_id}': model must be a ModelSession or a ModelRegistry; "
        f"got {type(model).__name__}"
    )


class BatchOutcome(NamedTuple):
    """What :func:`run_batched` returns: results and failures, in the order they ran."""

    results: list[InferenceResult]
    failures: list[InferenceFailure]


def run_batched(
    session: ModelSession,
    requests: Iterable[InferenceRequest],
    *,
    max_batch_size: int | None = None,
    clock: Clock | None = None,
) -> BatchOutcome:
    """Run ``requests`` in batches of ``max_batch_size`` rows, outside a pipeline.

    Batching, priority order and failure isolation are those of the
    :class:`DynamicBatcher` step; there is no waiting, since every request
    is here already.
    """
    clock = clock or SystemClock()
    max_rows, _ = _limits(session, max_batch_size, None)
    runner = BatchRunner(session, clock)
    queue = PendingQueue()
    results: list[InferenceResult] = []
    failures: list[InferenceFailure] = []
    enqueue_all(
        runner, queue, (InferenceRequest.from_record(r) for r in requests), clock.now(), failures
    )
    while queue:
        runner.run(queue.take(max_rows), results, failures)
    return BatchOutcome(results, failures)
