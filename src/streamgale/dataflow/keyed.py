"""Keyed streams and their stateful operators: windows, aggregates, reduces and joins.

State is kept per key. Window and join steps have two outputs: results, and
late records on the side, so nothing arrives too late and silently vanishes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from streamgale.dataflow.steps import StreamRef
from streamgale.dataflow.stream import KeySpec, Stream, _check_batch
from streamgale.errors import PipelineDefinitionError
from streamgale.runtime import operators as ops

if TYPE_CHECKING:
    from streamgale.dataflow.pipeline import Pipeline
    from streamgale.windowing import (
        Aggregation,
        EventClock,
        SessionWindow,
        SlidingWindow,
        TumblingWindow,
    )

    Windower = TumblingWindow | SlidingWindow | SessionWindow

__all__ = ["KeyedStream", "WindowOutput", "WindowedStream"]

T = TypeVar("T")
U = TypeVar("U")


class KeyedStream(Stream[T]):
    """A stream whose records have a key; keyed operators keep state per key."""

    def __init__(self, pipeline: Pipeline, ref: StreamRef, key: KeySpec) -> None:
        super().__init__(pipeline, ref)
        self.key = key

    def window(
        self, windower: Windower, clock: EventClock, *, allowed_lateness: float = 0.0
    ) -> WindowedStream[T]:
        """Group records per key into event-time windows.

        Nothing runs until ``aggregate`` or ``reduce`` is called on the result,
        which adds the (single) window step. A window closes when the watermark
        passes its end plus ``allowed_lateness``, even if no new event arrives;
        records for closed windows go to the ``late`` side output.
        """
        return WindowedStream(self, windower, clock, allowed_lateness)

    def aggregate(self, step_id: str, **aggregations: Aggregation) -> Stream[dict[str, Any]]:
        """Running aggregation per key, emitting the updated row for each touched key.

        >>> from streamgale.windowing import Count, Sum
        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> s = p.source("in", TestingSource([{"k": "a", "v": 1}, {"k": "a", "v": 2}]))
        >>> run_to_list(s.key_by("k", "k").aggregate("total", n=Count(), v=Sum("v")))
        [{'key': 'a', 'n': 2, 'v': 3}]
        """
        from streamgale.windowing import RunningAggregateConfig

        config = RunningAggregateConfig(key=self.key, aggregations=aggregations)
        step = self._op(step_id, "aggregate", lambda ctx, resume: config.build(resume, ctx.clock))
        return Stream(self._pipeline, StreamRef(step.step_id))

    def reduce(
        self, step_id: str, fn: Callable[[Any, Any], Any], of: KeySpec | None = None
    ) -> Stream[dict[str, Any]]:
        """Running fold per key: ``fn(accumulator, value)``; the output field is ``value``."""
        from streamgale.windowing import Reduce

        return self.aggregate(step_id, value=Reduce(fn, of=of))

    def join(
        self,
        step_id: str,
        other: KeyedStream[U],
        windower: TumblingWindow | SlidingWindow,
        clock: EventClock,
        other_clock: EventClock | None = None,
        *,
        allowed_lateness: float = 0.0,
    ) -> WindowOutput:
        """Inner join with ``other`` on equal keys within the same window.

        Emits ``{"key", "window_start", "window_end", "left", "right"}`` for each
        matching pair as soon as both sides are present; late records of either
        side go to the ``late`` output.

        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> from streamgale.windowing import EventClock, TumblingWindow
        >>> p = Pipeline("doc")
        >>> orders = p.source("o", TestingSource([{"id": 7, "t": 1.0, "item": "pen"}]))
        >>> paid = p.source("p", TestingSource([{"id": 7, "t": 3.0, "eur": 2}]))
        >>> joined = orders.key_by("ok", "id").join(
        ...     "paid_orders", paid.key_by("pk", "id"), TumblingWindow(10.0), EventClock("t"))
        >>> [(r["key"], r["left"]["item"], r["right"]["eur"]) for r in run_to_list(joined.results)]
        [(7, 'pen', 2)]
        """
        from streamgale.windowing import WindowJoinConfig

        config = WindowJoinConfig(
            windower=windower,
            left_clock=clock,
            right_clock=other_clock or clock,
            left_key=self.key,
            right_key=other.key,
            allowed_lateness=allowed_lateness,
        )
        step = self._op(
            step_id,
            "join",
            lambda ctx, resume: config.build(resume, ctx.clock),
            upstreams=(self._ref, other.ref),
            ports=("out", "late"),
        )
        return WindowOutput(
            Stream(self._pipeline, StreamRef(step.step_id, 0)),
            Stream(self._pipeline, StreamRef(step.step_id, 1)),
        )

    def batch(self, step_id: str, *, max_size: int, max_wait: float) -> Stream[list[T]]:
        """Like :meth:`Stream.batch`, but each list holds records of one key."""
        _check_batch(step_id, max_size, max_wait)
        key_fn = _key_fn(self.key)
        step = self._op(
            step_id,
            "batch",
            lambda ctx, resume: ops.BatchLogic(ctx, max_size, max_wait, key_fn, resume),
        )
        return Stream(self._pipeline, StreamRef(step.step_id))


class WindowedStream(Generic[T]):
    """A keyed stream cut into windows; finish it with ``aggregate`` or ``reduce``."""

    def __init__(
        self,
        keyed: KeyedStream[T],
        windower: Windower,
        clock: EventClock,
        allowed_lateness: float,
    ) -> None:
        self._keyed = keyed
        self._windower = windower
        self._clock = clock
        self._allowed_lateness = allowed_lateness

    def aggregate(self, step_id: str, **aggregations: Aggregation) -> WindowOutput:
        """One row per key and window: ``key``, ``window_start``, ``window_end``
        and one field per named aggregation.

        >>> from streamgale.windowing import Count, EventClock, Max, TumblingWindow
        >>> from streamgale import Pipeline
        >>> from streamgale.testing import TestingSource, run_to_list
        >>> p = Pipeline("doc")
        >>> events = [{"k": "a", "t": 1.0, "v": 5}, {"k": "a", "t": 2.0, "v": 7},
        ...           {"k": "b", "t": 11.0, "v": 1}]
        >>> out = (p.source("in", TestingSource(events)).key_by("k", "k")
        ...        .window(TumblingWindow(10.0), EventClock("t"))
        ...        .aggregate("stats", n=Count(), peak=Max("v")))
        >>> run_to_list(out.results)
        [{'key': 'a', 'window_start': 0.0, 'window_end': 10.0, 'n': 2, 'peak': 7}, \
{'key': 'b', 'window_start': 10.0, 'window_end': 20.0, 'n': 1, 'peak': 1}]
        """
        from streamgale.windowing import WindowAggregateConfig

        if not aggregations:
            raise PipelineDefinitionError(
                f"window step '{step_id}' needs at least one aggregation, "
                "for example aggregate('stats', n=Count())"
            )
        config = WindowAggregateConfig(
            windower=self._windower,
            clock=self._clock,
            key=self._keyed.key,
            aggregations=aggregations,
            allowed_lateness=self._allowed_lateness,
        )
        step = self._keyed._op(
            step_id,
            "window",
            lambda ctx, resume: config.build(resume, ctx.clock),
            ports=("out", "late"),
        )
        pipeline = self._keyed.pipeline
        return WindowOutput(
            Stream(pipeline, StreamRef(step.step_id, 0)),
            Stream(pipeline, StreamRef(step.step_id, 1)),
        )

    def reduce(
        self, step_id: str, fn: Callable[[Any, Any], Any], of: KeySpec | None = None
    ) -> WindowOutput:
        """Fold each key's records in a window with ``fn``; the output field is ``value``."""
        from streamgale.windowing import Reduce

        return self.aggregate(step_id, value=Reduce(fn, of=of))


@dataclass(frozen=True)
class WindowOutput:
    """Outputs of a window or join step: results, and late records on the side."""

    results: Stream[dict[str, Any]]
    late: Stream[Any]


def _key_fn(key: KeySpec) -> Callable[[Any], Hashable]:
    if isinstance(key, str):
        name = key
        return lambda record: record[name]
    return key
