"""Event time: reading it from records, and the watermark that says how far it got.

:class:`EventClock` is the frozen configuration; :class:`WatermarkTracker` is
its runtime state inside one step. The watermark is the event time up to
which the step believes it has seen everything:

* bounded out-of-orderness: ``max event time seen - max_delay``;
* idle advancement: once no record arrived for ``idle_timeout`` seconds of
  processing time, add ``now - arrival time of the last record``, so windows
  close even when a key (or the whole source) goes quiet;
* never below the upstream watermark, and never backwards.

Every record of one batch arrives at the same processing time, so splitting
a batch in two at the same instant gives the same watermarks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from streamgale.errors import ConfigError
from streamgale.runtime.logic import NO_WATERMARK
from streamgale.windowing.windows import check_seconds

__all__ = ["EventClock", "TimeGetter", "WatermarkTracker"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
TimeGetter: TypeAlias = str | Callable[[Any], "float | datetime"]
"""A field name (``record[name]``, or a column name) or a function of the record."""


@dataclass(frozen=True)
class EventClock:
    """How a step reads event time and derives its watermark.

    ``time`` is a field/column name or a function returning float seconds
    (unix epoch scale) or an aware :class:`~datetime.datetime`.

    >>> clock = EventClock("ts", max_delay=2.0)
    >>> clock.time_of({"ts": 12.5})
    12.5
    >>> from datetime import datetime, timezone
    >>> at = datetime(1970, 1, 1, 0, 1, tzinfo=timezone.utc)
    >>> EventClock(lambda r: r["at"]).time_of({"at": at})
    60.0
    """

    time: TimeGetter
    max_delay: float = 0.0
    idle_timeout: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.time, str) or callable(self.time)):
            raise ConfigError(
                f"EventClock.time must be a field name (str) or a function of the record; "
                f"got {self.time!r}",
                key="time",
            )
        check_seconds("EventClock", "max_delay", self.max_delay, allowed="non-negative")
        timeout = self.idle_timeout
        if not (timeout == math.inf or (isinstance(timeout, int | float) and timeout >= 0)):
            raise ConfigError(
                f"EventClock.idle_timeout must be a number >= 0 or math.inf (never idle); "
                f"got {timeout!r}",
                key="idle_timeout",
            )

    def time_of(self, record: Any) -> float:
        """The event time of one record, in float seconds."""
        if isinstance(self.time, str):
            try:
                raw = record[self.time]
            except (KeyError, IndexError, TypeError) as exc:
                raise ConfigError(
                    f"cannot read event time field '{self.time}' from record {record!r} "
                    f"({type(exc).__name__}: {exc}); check EventClock(time=...)",
                    key="time",
                ) from None
        else:
            raw = self.time(record)
        return to_seconds(raw)

    def times_of(self, records: Sequence[Any]) -> FloatArray:
        """Event times of records, as a float64 array."""
        if isinstance(self.time, str):
            # Fast path for plain numbers in a field; anything else goes through time_of.
            name = self.time
            try:
                raw = [record[name] for record in records]
            except (KeyError, IndexError, TypeError):
                raw = []
            if len(raw) == len(records) and all(type(x) is float or type(x) is int for x in raw):
                times = np.array(raw, np.float64)
                if not np.isnan(times).any():
                    return times
        return np.fromiter((self.time_of(r) for r in records), np.float64, len(records))


def to_seconds(raw: Any) -> float:
    """Float seconds from a number or an aware datetime; errors say what to return."""
    if isinstance(raw, datetime):
        if raw.tzinfo is None or raw.utcoffset() is None:
            raise ConfigError(
                f"event time {raw!r} is a naive datetime, so its instant is ambiguous; "
                "return an aware datetime (e.g. dt.replace(tzinfo=timezone.utc)) or float seconds",
                key="time",
            )
        return raw.timestamp()
    if isinstance(raw, int | float | np.integer | np.floating) and not isinstance(raw, bool):
        t = float(raw)
        if not math.isnan(t):
            return t
    raise ConfigError(
        f"event time {raw!r} ({type(raw).__name__}) is not usable; expected float seconds "
        "(not NaN) or an aware datetime",
        key="time",
    )


def column_seconds(name: str, column: npt.NDArray[Any]) -> FloatArray:
    """A numeric time column as float64 seconds; errors name the column."""
    if column.dtype.kind not in "iuf":
        hint = (
            " (convert datetime64 first, e.g. col.astype('datetime64[ns]').astype('int64') / 1e9)"
            if column.dtype.kind == "M"
            else ""
        )
        raise ConfigError(
            f"time column '{name}' has dtype {column.dtype}; expected numeric seconds{hint}",
            key="time",
        )
    times = column.astype(np.float64, copy=False)
    if np.isnan(times).any():
        raise ConfigError(f"time column '{name}' holds NaN; every record needs a time", key="time")
    return times


class WatermarkTracker:
    """Runtime watermark state of one :class:`EventClock` inside a step."""

    def __init__(self, clock: EventClock) -> None:
        self._delay = float(clock.max_delay)
        self._idle_timeout = float(clock.idle_timeout)
        self._max_seen = NO_WATERMARK
        self._last_arrival: float | None = None
        self._floor = NO_WATERMARK  # the highest watermark ever reported; it never goes back
        self._upstream = NO_WATERMARK

    def peek(self, now: float) -> float:
        """The watermark at processing time ``now``, without committing it."""
        base = self._max_seen - self._delay
        if self._last_arrival is not None:
            idle = now - self._last_arrival
            if idle >= self._idle_timeout:
                base += idle
        return max(self._floor, self._upstream, base)

    def current(self, now: float) -> float:
        """The watermark at processing time ``now``; it becomes the new floor."""
        self._floor = self.peek(now)
        return self._floor

    def observe(self, times: FloatArray, now: float) -> FloatArray:
        """Record a batch arriving at ``now``; the watermark just before each record.

        ``result[i]`` is the watermark after records ``0 .. i-1``; it never
        decreases along the batch.
        """
        first = self.current(now)
        if len(times) == 0:
            return np.empty(0, np.float64)
        seen = np.maximum.accumulate(times)
        before = np.empty(len(times), np.float64)
        before[0] = first
        np.maximum(seen[:-1] - self._delay, first, out=before[1:])
        self._max_seen = max(self._max_seen, float(seen[-1]))
        self._last_arrival = now
        self._floor = max(first, self._max_seen - self._delay)
        return before

    def advance_upstream(self, watermark: float) -> None:
        """The upstream watermark moved; ours never goes below it."""
        self._upstream = max(self._upstream, watermark)

    def finish(self) -> None:
        """All input ended: event time is complete."""
        self._floor = math.inf

    def time_reaching(self, target: float, now: float) -> float | None:
        """Earliest processing time at which idle advancement lifts the watermark to ``target``.

        ``None`` when it never will (no record yet, or idle advancement off).
        """
        if self.peek(now) >= target:
            return now
        base = self._max_seen - self._delay
        if self._last_arrival is None or math.isinf(self._idle_timeout) or math.isinf(base):
            return None
        when = self._last_arrival + max(self._idle_timeout, target - base)
        # Rounding can leave base + (when - last) a hair below target; step up,
        # doubling the step, since one ulp of `when` may not move `base` at all.
        step = math.ulp(when)
        while self.peek(when) < target:
            when += step
            step *= 2
        return max(when, now)

    def snapshot(self, now: float) -> dict[str, float | None]:
        """Picklable state; the idle time is kept relative to ``now``.

        Processing time is not comparable across restarts, so the restored
        tracker counts idleness from the restore instant minus the idle time
        at snapshot.
        """
        idle = None if self._last_arrival is None else now - self._last_arrival
        return {
            "max_seen": self._max_seen,
            "floor": self._floor,
            "upstream": self._upstream,
            "idle_for": idle,
        }

    def restore(self, state: dict[str, float | None], now: float) -> None:
        """Load :meth:`snapshot` output at processing time ``now``."""
        self._max_seen = _float(state["max_seen"])
        self._floor = _float(state["floor"])
        self._upstream = _float(state["upstream"])
        idle = state["idle_for"]
        self._last_arrival = None if idle is None else now - idle


def _float(value: float | None) -> float:
    return NO_WATERMARK if value is None else float(value)
