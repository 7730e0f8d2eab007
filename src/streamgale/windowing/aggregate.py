"""Keyed aggregation over event-time windows: configuration and step logic.

:class:`WindowAggregateConfig` is the frozen, picklable description;
``config.build(resume_state, clock)`` gives the :class:`StepLogic` the
runtime drives. The logic picks one engine on its first non-empty batch:

* :class:`~streamgale.windowing.columnar.ColumnWindows` (vectorised) for
  tumbling/sliding windows over a ColumnBatch when time and key are column
  names and every aggregation is a built-in over a numeric column;
* :class:`~streamgale.windowing.sessions.SessionWindows` for sessions;
* :class:`~streamgale.windowing.records.RecordWindows` otherwise.

Batches of the other shape are converted to what the engine reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from streamgale.batch import Batch, ColumnBatch
from streamgale.errors import ConfigError
from streamgale.runtime.logic import Clock, Emit, StepLogic
from streamgale.windowing.aggregations import Aggregation, check_aggregations
from streamgale.windowing.clock import EventClock, WatermarkTracker
from streamgale.windowing.columnar import ColumnWindows
from streamgale.windowing.records import RecordWindows
from streamgale.windowing.results import (
    KeyGetter,
    check_key,
    check_port,
    columns_of,
    rows_as,
    select,
)
from streamgale.windowing.sessions import SessionWindows
from streamgale.windowing.spec import AggregateSpec
from streamgale.windowing.vectorised import vectorisable
from streamgale.windowing.windows import (
    SessionWindow,
    SlidingWindow,
    TumblingWindow,
    Windower,
    check_seconds,
)

__all__ = ["LATE_PORT", "RESULTS_PORT", "WindowAggregateConfig", "WindowAggregateLogic"]

RESULTS_PORT = 0
"""Output port of window results."""
LATE_PORT = 1
"""Output port of records that arrived too late for every window they belong to."""


@dataclass(frozen=True)
class WindowAggregateConfig:
    """Aggregate records per key and event-time window.

    Output port 0 (:data:`RESULTS_PORT`) carries results, port 1
    (:data:`LATE_PORT`) late records. The semantics are exact, and do not
    depend on how the input is cut into batches:

    **Watermark.** Every record of a batch arrives at the clock's ``now``.
    The watermark just before a record is ``max(W0, m - max_delay)``, where
    ``m`` is the largest event time of all earlier records and ``W0`` the
    step's watermark when the batch arrived: never below the upstream
    watermark nor any watermark reported before, and advanced by idleness
    (see :class:`~streamgale.windowing.clock.EventClock`).

    **Which records count.** Records are processed in arrival order. A
    record at time ``t`` counts in each tumbling/sliding window ``W``
    holding ``t`` with ``W.end + allowed_lateness > watermark just before
    it``. A record that counts in no window goes unchanged to port 1, in a
    batch of the input's type (list, or a ColumnBatch of the selected rows).
    Sessions follow the same rule per session; see
    :mod:`streamgale.windowing.sessions`.

    **When windows close.** After each input batch, :meth:`on_watermark` and
    :meth:`on_tick`, every window with ``end + allowed_lateness <= watermark``
    is closed and emitted once; ``on_eof`` closes all. Every window closing
    at one moment comes out in ONE batch, rows ordered by ``window_end``,
    then key. Windows close in order of their end, so the concatenated
    output is sorted the same way. ``next_awake()`` is the processing time
    at which idleness will close the earliest open window (``None`` when
    none is open or idleness is off).

    **Rows.** ``key``, ``window_start``, ``window_end`` (a session ends at its
    last event + gap), then one field per aggregation, in the mapping's
    order: dicts for list input, one ColumnBatch for ColumnBatch input (the
    shape of the latest input batch decides). Values fold in arrival order
    in both the per-record and the vectorised engine, so even float sums
    agree to the last bit.

    **Snapshots.** ``snapshot()`` is picklable; ``build(state, clock)``
    resumes exactly. Processing-time idleness is carried over relative to
    the clock at snapshot and at restore time.

    >>> from streamgale.runtime.logic import ManualClock
    >>> from streamgale.windowing import Count, Sum
    >>> config = WindowAggregateConfig(
    ...     TumblingWindow(10.0), EventClock("t"), key="user",
    ...     aggregations={"n": Count(), "total": Sum("amount")},
    ... )
    >>> logic = config.build(None, ManualClock())
    >>> logic.on_batch(0, [
    ...     {"user": "a", "t": 1.0, "amount": 5}, {"user": "a", "t": 12.0, "amount": 1},
    ... ])
    [(0, [{'key': 'a', 'window_start': 0.0, 'window_end': 10.0, 'n': 1, 'total': 5}])]
    >>> logic.on_batch(0, [{"user": "b", "t": 3.0, "amount": 7}])  # window [0, 10) closed
    [(1, [{'user': 'b', 't': 3.0, 'amount': 7}])]
    >>> logic.on_eof()
    [(0, [{'key': 'a', 'window_start': 10.0, 'window_end': 20.0, 'n': 1, 'total': 1}])]
    """

    windower: Windower
    clock: EventClock
    key: KeyGetter
    aggregations: Mapping[str, Aggregation]
    allowed_lateness: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.windower, TumblingWindow | SlidingWindow | SessionWindow):
            raise ConfigError(
                f"windower must be TumblingWindow, SlidingWindow or SessionWindow; "
                f"got {self.windower!r}",
                key="windower",
            )
        if not isinstance(self.clock, EventClock):
            raise ConfigError(f"clock must be an EventClock; got {self.clock!r}", key="clock")
        check_key("WindowAggregateConfig", self.key)
        check_aggregations(self.aggregations)
        check_seconds(
            "WindowAggregateConfig",
            "allowed_lateness",
            self.allowed_lateness,
            allowed="non-negative",
        )
        object.__setattr__(self, "aggregations", dict(self.aggregations))

    def spec(self) -> AggregateSpec:
        """The settings the engines run on."""
        windower = self.windower
        return AggregateSpec(
            clock=self.clock,
            key=self.key,
            names=tuple(self.aggregations),
            aggregations=tuple(self.aggregations.values()),
            lateness=float(self.allowed_lateness),
            grid=None if isinstance(windower, SessionWindow) else windower.grid,
            gap=float(windower.gap) if isinstance(windower, SessionWindow) else 0.0,
        )

    def build(self, resume_state: Any | None, clock: Clock) -> StepLogic:
        """The step logic, resumed from ``resume_state`` (a :meth:`StepLogic.snapshot`)."""
        return WindowAggregateLogic(self, resume_state, clock)


class _Engine(Protocol):
    def add(self, batch: Any, tracker: WatermarkTracker, now: float) -> npt.NDArray[np.bool_]: ...
    def close(self, watermark: float) -> Batch | None: ...
    def close_all(self) -> Batch | None: ...
    def earliest_close(self) -> float | None: ...
    def snapshot(self) -> Any: ...
    def restore(self, state: Any) -> None: ...


_ENGINES: dict[str, Callable[[AggregateSpec], _Engine]] = {
    "columns": ColumnWindows,
    "records": RecordWindows,
    "sessions": SessionWindows,
}


class WindowAggregateLogic(StepLogic):
    """Runtime logic of :class:`WindowAggregateConfig`; see its docstring for semantics."""

    def __init__(self, config: WindowAggregateConfig, resume_state: Any | None, clock: Clock):
        self._spec = config.spec()
        self._sessions = isinstance(config.windower, SessionWindow)
        self._clock = clock
        self._tracker = WatermarkTracker(config.clock)
        self._engine: _Engine | None = None
        self._engine_name = ""
        self._columnar_output = False
        if resume_state is not None:
            self._restore(resume_state)

    def on_batch(self, port: int, batch: Batch) -> Emit:
        check_port("a window aggregate", port)
        now = self._clock.now()
        late: Batch | None = None
        if len(batch):
            self._columnar_output = isinstance(batch, ColumnBatch)
            mask = self._add(batch, now)
            if mask.any():
                late = select(batch, mask)
        out = self._close(self._tracker.current(now))
        if late is not None:
            out.append((LATE_PORT, late))
        return out

    def _add(self, batch: Batch, now: float) -> npt.NDArray[np.bool_]:
        if self._engine is None:
            self._engine_name = self._choose_engine(batch)
            self._engine = _ENGINES[self._engine_name](self._spec)
        if self._engine_name == "columns" and not isinstance(batch, ColumnBatch):
            batch = columns_of(batch, self._spec.column_names())
        elif self._engine_name != "columns" and isinstance(batch, ColumnBatch):
            batch = batch.to_rows()
        return self._engine.add(batch, self._tracker, now)

    def _choose_engine(self, batch: Batch) -> str:
        if self._sessions:
            return "sessions"
        spec = self._spec
        if (
            isinstance(batch, ColumnBatch)
            and isinstance(spec.key, str)
            and isinstance(spec.clock.time, str)
            and spec.key in batch
            and spec.clock.time in batch
            and batch[spec.clock.time].dtype.kind in "iuf"
            and vectorisable(spec.aggregations, batch)
        ):
            return "columns"
        return "records"

    def on_watermark(self, watermark: float) -> Emit:
        self._tracker.advance_upstream(watermark)
        return self._close(self._tracker.current(self._clock.now()))

    def on_tick(self, now: float) -> Emit:
        return self._close(self._tracker.current(now))

    def on_eof(self) -> Emit:
        self._tracker.finish()
        if self._engine is None:
            return []
        return self._emit(self._engine.close_all())

    def watermark(self) -> float:
        return self._tracker.current(self._clock.now())

    def next_awake(self) -> float | None:
        target = None if self._engine is None else self._engine.earliest_close()
        if target is None:
            return None
        return self._tracker.time_reaching(target, self._clock.now())

    def _close(self, watermark: float) -> Emit:
        if self._engine is None:
            return []
        return self._emit(self._engine.close(watermark))

    def _emit(self, results: Batch | None) -> Emit:
        if results is None or not len(results):
            return []
        if isinstance(results, ColumnBatch):
            return [(RESULTS_PORT, results if self._columnar_output else results.to_rows())]
        return [(RESULTS_PORT, rows_as(results, self._columnar_output))]

    def snapshot(self) -> Any:
        return {
            "tracker": self._tracker.snapshot(self._clock.now()),
            "engine": self._engine_name,
            "state": None if self._engine is None else self._engine.snapshot(),
            "columnar_output": self._columnar_output,
        }

    def _restore(self, state: Any) -> None:
        self._tracker.restore(state["tracker"], self._clock.now())
        self._columnar_output = state["columnar_output"]
        self._engine_name = state["engine"]
        if self._engine_name:
            self._engine = _ENGINES[self._engine_name](self._spec)
            self._engine.restore(state["state"])
