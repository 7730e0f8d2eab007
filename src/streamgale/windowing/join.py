"""Windowed inner join of two keyed streams.

Port 0 is the left input, port 1 the right. Each side has its own
:class:`EventClock`; the join watermark is the smaller of the two sides'
watermarks (both also follow the upstream watermark).

A record at time ``t`` counts in each window ``W`` holding ``t`` with
``W.end + allowed_lateness > join watermark`` just before it (its own side's
watermark before it, the other side's current one). In each such window it
is paired with every record of the other side with an equal key already
there, and each pair is emitted at once on port 0 as
``{"key", "window_start", "window_end", "left", "right"}``; a pair that
shares several sliding windows is emitted once per window. A record that
counts in no window goes to port 1 as ``{"side": "left" | "right",
"record": record}``. A window's records are dropped once the join
watermark reaches ``end + allowed_lateness``. Input may be lists or
ColumnBatches (rows become dicts); output is always a list of dicts.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from streamgale.batch import Batch, iter_rows
from streamgale.errors import ConfigError
from streamgale.runtime.logic import Clock, Emit, StepLogic
from streamgale.windowing.clock import EventClock, WatermarkTracker
from streamgale.windowing.results import KeyGetter, check_key, read_key
from streamgale.windowing.windows import SlidingWindow, TumblingWindow, check_seconds

__all__ = ["WindowJoinConfig", "WindowJoinLogic"]

_SIDES = ("left", "right")


@dataclass(frozen=True)
class WindowJoinConfig:
    """Join left and right records with equal keys in the same event-time window.

    >>> from streamgale.runtime.logic import ManualClock
    >>> config = WindowJoinConfig(
    ...     TumblingWindow(10.0), EventClock("t"), EventClock("t"),
    ...     left_key="id", right_key="id",
    ... )
    >>> logic = config.build(None, ManualClock())
    >>> logic.on_batch(0, [{"id": 1, "t": 2.0, "name": "ada"}])
    []
    >>> logic.on_batch(1, [{"id": 1, "t": 5.0, "score": 9}])[0][1][0]["right"]
    {'id': 1, 't': 5.0, 'score': 9}
    """

    windower: TumblingWindow | SlidingWindow
    left_clock: EventClock
    right_clock: EventClock
    left_key: KeyGetter
    right_key: KeyGetter
    allowed_lateness: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.windower, TumblingWindow | SlidingWindow):
            raise ConfigError(
                f"windower must be TumblingWindow or SlidingWindow (sessions cannot be "
                f"joined); got {self.windower!r}",
                key="windower",
            )
        for name in ("left_clock", "right_clock"):
            if not isinstance(getattr(self, name), EventClock):
                raise ConfigError(
                    f"{name} must be an EventClock; got {getattr(self, name)!r}", key=name
                )
        check_key("WindowJoinConfig", self.left_key, "left_key")
        check_key("WindowJoinConfig", self.right_key, "right_key")
        check_seconds(
            "WindowJoinConfig",
            "allowed_lateness",
            self.allowed_lateness,
            allowed="non-negative",
        )

    def build(self, resume_state: Any | None, clock: Clock) -> StepLogic:
        """The step logic, resumed from ``resume_state`` (a :meth:`StepLogic.snapshot`)."""
        return WindowJoinLogic(self, resume_state, clock)


class WindowJoinLogic(StepLogic):
    """Runtime logic of :class:`WindowJoinConfig`; see the module docstring."""

    def __init__(self, config: WindowJoinConfig, resume_state: Any | None, clock: Clock):
        self._grid = config.windower.grid
        self._lateness = float(config.allowed_lateness)
        self._clocks = (config.left_clock, config.right_clock)
        self._keys = (config.left_key, config.right_key)
        self._clock = clock
        self._trackers = (WatermarkTracker(config.left_clock), WatermarkTracker(config.right_clock))
        # window index -> key -> (left records, right records), in arrival order
        self._windows: dict[int, dict[Hashable, tuple[list[Any], list[Any]]]] = {}
        self._order: list[int] = []  # heap of window indexes
        if resume_state is not None:
            self._restore(resume_state)

    def on_batch(self, port: int, batch: Batch) -> Emit:
        if port not in (0, 1):
            raise ConfigError(
                f"a window join has input ports 0 (left) and 1 (right); got port {port}",
                key="port",
            )
        now = self._clock.now()
        records = list(iter_rows(batch))
        times = self._clocks[port].times_of(records)
        before = self._trackers[port].observe(times, now).tolist()
        other = self._trackers[1 - port].current(now)
        matches: list[dict[str, Any]] = []
        late: list[dict[str, Any]] = []
        for record, t, own in zip(records, times.tolist(), before, strict=True):
            if not self._add(port, record, t, min(own, other), matches):
                late.append({"side": _SIDES[port], "record": record})
        self._purge(now)
        out: Emit = [(0, matches)] if matches else []
        return [*out, (1, late)] if late else out

    def _add(
        self, side: int, record: Any, t: float, watermark: float, matches: list[dict[str, Any]]
    ) -> bool:
        grid = self._grid
        first, last = grid.index_range(t)
        counted = [k for k in range(first, last + 1) if grid.end(k) + self._lateness > watermark]
        if not counted:
            return False
        key = read_key(self._keys[side], record)
        for k in counted:
            window = self._windows.get(k)
            if window is None:
                window = self._windows[k] = {}
                heapq.heappush(self._order, k)
            bucket = window.setdefault(key, ([], []))
            start, end = grid.start(k), grid.end(k)
            for match in bucket[1 - side]:
                pair = (record, match) if side == 0 else (match, record)
                matches.append(
                    {
                        "key": key,
                        "window_start": start,
                        "window_end": end,
                        "left": pair[0],
                        "right": pair[1],
                    }
                )
            bucket[side].append(record)
        return True

    def _watermark(self, now: float) -> float:
        return min(tracker.current(now) for tracker in self._trackers)

    def _purge(self, now: float) -> None:
        watermark = self._watermark(now)
        while self._order and self._grid.end(self._order[0]) + self._lateness <= watermark:
            del self._windows[heapq.heappop(self._order)]

    def on_watermark(self, watermark: float) -> Emit:
        for tracker in self._trackers:
            tracker.advance_upstream(watermark)
        self._purge(self._clock.now())
        return []

    def on_tick(self, now: float) -> Emit:
        self._purge(now)
        return []

    def on_eof(self) -> Emit:
        for tracker in self._trackers:
            tracker.finish()
        self._windows.clear()
        self._order.clear()
        return []

    def watermark(self) -> float:
        return self._watermark(self._clock.now())

    def next_awake(self) -> float | None:
        if not self._order:
            return None
        target = self._grid.end(self._order[0]) + self._lateness
        now = self._clock.now()
        times = [tracker.time_reaching(target, now) for tracker in self._trackers]
        return None if None in times else max(t for t in times if t is not None)

    def snapshot(self) -> Any:
        now = self._clock.now()
        return {
            "trackers": [tracker.snapshot(now) for tracker in self._trackers],
            "windows": copy.deepcopy(self._windows),
        }

    def _restore(self, state: Any) -> None:
        now = self._clock.now()
        for tracker, saved in zip(self._trackers, state["trackers"], strict=True):
            tracker.restore(saved, now)
        self._windows = copy.deepcopy(state["windows"])
        self._order = sorted(self._windows)

    def open_windows(self) -> int:
        """Number of windows still holding records (for tests and metrics)."""
        return len(self._windows)
