"""Typed streams and their operators.

Every operator adds one step, named by a step id that is unique in the
pipeline, and returns the stream(s) it produces. Records travel in
micro-batches; see :mod:`streamgale.batch`.

>>> from streamgale import Pipeline
>>> from streamgale.testing import TestingSink, TestingSource
>>> p = Pipeline("doc")
>>> out = []
>>> (p.source("numbers", TestingSource([1, 2, 3, 4]))
...   .map("square", lambda x: x * x)
...   .filter("even", lambda x: x % 2 == 0)
...   .sink("out", TestingSink(out)))
>>> p.run()
>>> out
[4, 16]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from streamgale.batch import Batch
from streamgale.connectors.base import Sink
from streamgale.dataflow.steps import OperatorStep, SinkStep, StreamRef
from streamgale.errors import PipelineDefinitionError
from streamgale.runtime import operators as ops
from streamgale.runtime.logic import LogicFactory, StepContext, StepLogic

if TYPE_CHECKING:
    from streamgale.dataflow.keyed import KeyedStream
    from streamgale.dataflow.pipeline import Pipeline

__all__ = ["Branches", "KeySpec", "Stream"]

T = TypeVar("T")
U = TypeVar("U")
KeySpec = str | Callable[[Any], Hashable]
Executor = Literal["process", "thread"]
"""Where a parallel step's function runs: worker processes or threads."""


class Stream(Generic[T]):
    """A stream of records of type ``T`` flowing out of one step's port."""

    def __init__(self, pipeline: Pipeline, ref: StreamRef) -> None:
        self._pipeline = pipeline
        self._ref = ref

    @property
    def ref(self) -> StreamRef:
        return self._ref

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    def _op(
        self,
        step_id: str,
        op: str,
        factory: LogicFactory,
        *,
        upstreams: tuple[StreamRef, ...] | None = None,
        ports: tuple[str, ...] = ("out",),
        parallelism: int = 1,
    ) -> OperatorStep:
        step = OperatorStep(step_id, op, upstreams or (self._ref,), ports, factory, parallelism)
        self._pipeline.add_step(step)
        return step

    def map(
        self,
        step_id: str,
        fn: Callable[[T], U],
        *,
        parallelism: int = 1,
        executor: Executor = "process",
    ) -> Stream[U]:
        """Replace each record by ``fn(record)``.

        With ``parallelism`` > 1 the function runs in that many worker
        processes (it must be defined at module level so it can be pickled);
        use it for CPU-heavy functions. ``executor="thread"`` runs it on that
        many threads instead, off the driver even at parallelism 1: for
        functions that hold unpicklable resources or spend their time in I/O
        or GIL-releasing code, so that other steps keep moving meanwhile.
        Record order is kept either way. A record for which ``fn`` raises
        goes to the dead-letter store.

        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> run_to_list(p.source("in", TestingSource([1, 2])).map("double", lambda x: 2 * x))
        [2, 4]
        """
        factory = _parallel_or(fn, parallelism, per_record=True, executor=executor)
        step = self._op(step_id, "map", factory, parallelism=parallelism)
        return Stream(self._pipeline, StreamRef(step.step_id))

    def filter(self, step_id: str, predicate: Callable[[T], bool]) -> Stream[T]:
        """Keep the records for which ``predicate`` is true.

        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> numbers = p.source("in", TestingSource([1, 2, 3]))
        >>> run_to_list(numbers.filter("odd", lambda x: x % 2 == 1))
        [1, 3]
        """
        step = self._op(step_id, "filter", lambda ctx, _: ops.FilterLogic(ctx, predicate))
        return Stream(self._pipeline, StreamRef(step.step_id))

    def flat_map(self, step_id: str, fn: Callable[[T], Iterable[U]]) -> Stream[U]:
        """Replace each record by the records of the iterable ``fn`` returns.

        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> run_to_list(p.source("in", TestingSource(["a b", "c"])).flat_map("words", str.split))
        ['a', 'b', 'c']
        """
        step = self._op(step_id, "flat_map", lambda ctx, _: ops.FlatMapLogic(ctx, fn))
        return Stream(self._pipeline, StreamRef(step.step_id))

    def map_batches(
        self,
        step_id: str,
        fn: Callable[[Batch], Batch],
        *,
        parallelism: int = 1,
        executor: Executor = "process",
    ) -> Stream[Any]:
        """Vectorised map: ``fn`` takes and returns a whole micro-batch.

        A batch is a list or a :class:`~streamgale.batch.ColumnBatch` of numpy
        columns; this is where per-record Python overhead disappears.

        >>> import numpy as np
        >>> from streamgale import ColumnBatch
        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> src = TestingSource([ColumnBatch({"v": np.array([1.0, 2.0])})], batches=True)
        >>> run_to_list(p.source("in", src).map_batches(
        ...     "scale", lambda b: b.with_columns(v=b["v"] * 10)))
        [{'v': 10.0}, {'v': 20.0}]
        """
        factory = _parallel_or(fn, parallelism, per_record=False, executor=executor)
        step = self._op(step_id, "map_batches", factory, parallelism=parallelism)
        return Stream(self._pipeline, StreamRef(step.step_id))

    def key_by(self, step_id: str, key: KeySpec) -> KeyedStream[T]:
        """Declare the key of each record: a field/column name or a function.

        Keyed operators (``window``, ``aggregate``, ``reduce``, ``join``)
        keep state per key.

        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> words = p.source("in", TestingSource(["apple", "avocado", "beet"]))
        >>> run_to_list(words.key_by("first_letter", lambda w: w[0]).reduce(
        ...     "longest", lambda a, b: max(a, b, key=len)))
        [{'key': 'a', 'value': 'avocado'}, {'key': 'b', 'value': 'beet'}]
        """
        from streamgale.dataflow.keyed import KeyedStream

        _check_key(key, step_id)
        step = self._op(step_id, "key_by", lambda ctx, _: ops.PassThroughLogic())
        return KeyedStream(self._pipeline, StreamRef(step.step_id), key)

    def batch(self, step_id: str, *, max_size: int, max_wait: float) -> Stream[list[T]]:
        """Group records into lists of up to ``max_size``, waiting at most ``max_wait`` s.

        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> numbers = p.source("in", TestingSource([1, 2, 3]))
        >>> run_to_list(numbers.batch("b", max_size=2, max_wait=1.0))
        [[1, 2], [3]]
        """
        _check_batch(step_id, max_size, max_wait)
        step = self._op(
            step_id,
            "batch",
            lambda ctx, resume: ops.BatchLogic(ctx, max_size, max_wait, None, resume),
        )
        return Stream(self._pipeline, StreamRef(step.step_id))

    def branch(self, step_id: str, predicate: Callable[[T], bool]) -> Branches[T]:
        """Split into ``.trues`` and ``.falses`` by ``predicate``.

        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> b = p.source("in", TestingSource([1, 2, 3])).branch("parity", lambda x: x % 2 == 0)
        >>> run_to_list(b.trues)
        [2]
        """
        step = self._op(
            step_id,
            "branch",
            lambda ctx, _: ops.BranchLogic(ctx, predicate),
            ports=("true", "false"),
        )
        return Branches(
            Stream(self._pipeline, StreamRef(step.step_id, 0)),
            Stream(self._pipeline, StreamRef(step.step_id, 1)),
        )

    def merge(self, step_id: str, *others: Stream[T]) -> Stream[T]:
        """Interleave this stream with ``others`` into one.

        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> a, b = p.source("a", TestingSource([1])), p.source("b", TestingSource([2]))
        >>> sorted(run_to_list(a.merge("both", b)))
        [1, 2]
        """
        for other in others:
            if other.pipeline is not self._pipeline:
                raise PipelineDefinitionError(
                    f"merge '{step_id}': all streams must come from the same pipeline"
                )
        upstreams = (self._ref, *(o.ref for o in others))
        step = self._op(
            step_id, "merge", lambda ctx, _: ops.PassThroughLogic(), upstreams=upstreams
        )
        return Stream(self._pipeline, StreamRef(step.step_id))

    def stateful(
        self,
        step_id: str,
        build: LogicFactory,
        *,
        ports: tuple[str, ...] = ("out",),
        others: tuple[Stream[Any], ...] = (),
    ) -> tuple[Stream[Any], ...]:
        """A step with your own :class:`~streamgale.runtime.logic.StepLogic`.

        ``build(ctx, resume_state)`` returns the logic; ``resume_state`` is what
        its ``snapshot()`` returned at the last checkpoint. This stream is input
        port 0 and ``others`` are ports 1, 2, ...; the result is one stream per
        name in ``ports``. Use it for stateful logic the built-in operators do
        not cover; the runtime drives it exactly like theirs.

        >>> from streamgale import Pipeline
        >>> from streamgale.runtime.logic import StepLogic
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> class RunningTotal(StepLogic):
        ...     def __init__(self, total): self.total = total or 0
        ...     def on_batch(self, port, batch):
        ...         out = []
        ...         for x in batch:
        ...             self.total += x
        ...             out.append(self.total)
        ...         return [(0, out)]
        ...     def snapshot(self): return self.total
        >>> p = Pipeline("doc")
        >>> numbers = p.source("in", TestingSource([1, 2, 3]))
        >>> (totals,) = numbers.stateful("total", lambda ctx, resume: RunningTotal(resume))
        >>> run_to_list(totals)
        [1, 3, 6]
        """
        for other in others:
            if other.pipeline is not self._pipeline:
                raise PipelineDefinitionError(
                    f"stateful '{step_id}': all streams must come from the same pipeline"
                )
        step = self._op(
            step_id, "stateful", build, upstreams=(self._ref, *(o.ref for o in others)), ports=ports
        )
        return tuple(Stream(self._pipeline, StreamRef(step.step_id, i)) for i in range(len(ports)))

    def sink(self, step_id: str, sink: Sink[T]) -> None:
        """Write the stream to ``sink``; input offsets commit only after it acknowledges.

        >>> from streamgale import Pipeline
        >>> from streamgale.connectors import StdOutSink
        >>> from streamgale.testing import TestingSource
        >>> p = Pipeline("doc")
        >>> p.source("in", TestingSource([{"a": 1}])).sink("print", StdOutSink())
        >>> p.run()
        {"a":1}
        """
        self._pipeline.add_step(SinkStep(step_id, self._ref, sink))


@dataclass(frozen=True)
class Branches(Generic[T]):
    """The two outputs of :meth:`Stream.branch`."""

    trues: Stream[T]
    falses: Stream[T]


def _parallel_or(
    fn: Callable[..., Any],
    parallelism: int,
    *,
    per_record: bool,
    executor: Executor = "process",
) -> LogicFactory:
    if not isinstance(parallelism, int) or parallelism < 1:
        raise PipelineDefinitionError(
            f"parallelism must be a whole number >= 1; got {parallelism!r}"
        )
    if executor not in ("process", "thread"):
        raise PipelineDefinitionError(f"executor must be 'process' or 'thread'; got {executor!r}")
    if parallelism > 1 or executor == "thread":
        from streamgale.runtime.parallel import ParallelMapLogic

        threads = executor == "thread"

        def build_parallel(ctx: StepContext, _: Any) -> StepLogic:
            return ParallelMapLogic(ctx, fn, parallelism, per_record=per_record, threads=threads)

        return build_parallel
    if per_record:
        return lambda ctx, _: ops.MapLogic(ctx, fn)
    return lambda ctx, _: ops.MapBatchesLogic(ctx, fn)


def _check_key(key: object, step_id: str) -> None:
    if not (isinstance(key, str) or callable(key)):
        raise PipelineDefinitionError(
            f"key_by '{step_id}': key must be a field name or a function; got {key!r}"
        )


def _check_batch(step_id: str, max_size: int, max_wait: float) -> None:
    if not isinstance(max_size, int) or max_size < 1:
        raise PipelineDefinitionError(
            f"batch '{step_id}': max_size must be a whole number >= 1; got {max_size!r}"
        )
    if not max_wait > 0:
        raise PipelineDefinitionError(
            f"batch '{step_id}': max_wait must be > 0 seconds; got {max_wait!r}"
        )
