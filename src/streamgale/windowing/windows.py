"""Window specifications: which event-time windows a record belongs to.

Tumbling and sliding windows sit on a fixed *grid*: window ``k`` spans
``[align_to + k * offset, align_to + k * offset + length)``. A tumbling
window is a sliding window whose offset equals its length. Session windows
have no grid; they grow around the events of each key.

Both window engines (per record and vectorised) compute window indexes and
bounds with the functions of :class:`Grid`, in the same floating-point
operations, so they agree to the last bit on which window a time falls in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from streamgale.errors import ConfigError

__all__ = [
    "Grid",
    "SessionWindow",
    "SlidingWindow",
    "TumblingWindow",
    "Window",
    "Windower",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]


_WANTED: dict[str, tuple[str, Callable[[float], bool]]] = {
    "positive": ("a finite number > 0", lambda v: v > 0),
    "non-negative": ("a finite number >= 0", lambda v: v >= 0),
    "any": ("a finite number", lambda v: True),
}


def check_seconds(
    owner: str,
    name: str,
    value: Any,
    *,
    allowed: Literal["positive", "non-negative", "any"] = "positive",
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite number in ``allowed``.

    ``allowed`` is ``"positive"``, ``"non-negative"`` or ``"any"``.
    """
    wanted, test = _WANTED[allowed]
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and test(value):
        return
    raise ConfigError(f"{owner}.{name} must be {wanted} (seconds); got {value!r}", key=name)


@dataclass(frozen=True)
class Window:
    """One event-time window, half-open: it holds ``start <= t < end``.

    >>> w = Window(0.0, 10.0)
    >>> w.contains(0.0), w.contains(10.0)
    (True, False)
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ConfigError(
                f"Window needs start < end; got start={self.start!r}, end={self.end!r}",
                key="end",
            )

    def contains(self, t: float) -> bool:
        """Whether event time ``t`` falls in this window."""
        return self.start <= t < self.end


@dataclass(frozen=True)
class Grid:
    """Fixed windows ``[align + k * offset, align + k * offset + length)``, ``k`` an integer."""

    length: float
    offset: float
    align: float

    def index_range(self, t: float) -> tuple[int, int]:
        """First and last index of the windows holding time ``t``."""
        last = math.floor((t - self.align) / self.offset)
        if self.offset == self.length:
            return last, last
        first = math.floor((t - self.align - self.length) / self.offset) + 1
        return min(first, last), last

    def index_ranges(self, t: FloatArray) -> tuple[IntArray, IntArray]:
        """:meth:`index_range` for an array of times."""
        last = np.floor((t - self.align) / self.offset).astype(np.int64)
        if self.offset == self.length:
            return last, last
        first = np.floor((t - self.align - self.length) / self.offset).astype(np.int64) + 1
        return np.minimum(first, last), last

    def start(self, k: int) -> float:
        """Start of window ``k``."""
        return self.align + k * self.offset

    def end(self, k: int) -> float:
        """End (exclusive) of window ``k``."""
        return self.align + k * self.offset + self.length

    def ends(self, k: IntArray) -> FloatArray:
        """:meth:`end` for an array of window indexes (same arithmetic)."""
        ends: FloatArray = self.align + k.astype(np.float64) * self.offset + self.length
        return ends

    def window(self, k: int) -> Window:
        """Window ``k`` as a :class:`Window`."""
        return Window(self.start(k), self.end(k))


@dataclass(frozen=True)
class TumblingWindow:
    """Fixed, non-overlapping windows of ``length`` seconds.

    Windows start at ``align_to + k * length`` for every integer ``k``.

    >>> TumblingWindow(10.0).windows_for(25.0)
    [Window(start=20.0, end=30.0)]
    >>> TumblingWindow(10.0, align_to=5.0).windows_for(25.0)
    [Window(start=25.0, end=35.0)]
    """

    length: float
    align_to: float = 0.0

    def __post_init__(self) -> None:
        check_seconds("TumblingWindow", "length", self.length)
        check_seconds("TumblingWindow", "align_to", self.align_to, allowed="any")

    @property
    def grid(self) -> Grid:
        """The grid of windows (offset equals length)."""
        return Grid(float(self.length), float(self.length), float(self.align_to))

    def windows_for(self, t: float) -> list[Window]:
        """The windows holding event time ``t``."""
        return _windows_for(self.grid, t)


@dataclass(frozen=True)
class SlidingWindow:
    """Overlapping windows of ``length`` seconds, a new one every ``offset`` seconds.

    ``offset`` must not exceed ``length`` (gaps between windows would leave
    records in no window). When ``length`` is not a multiple of ``offset`` a
    record belongs to either ``floor`` or ``ceil(length / offset)`` windows.

    >>> SlidingWindow(length=10.0, offset=5.0).windows_for(12.0)
    [Window(start=5.0, end=15.0), Window(start=10.0, end=20.0)]
    """

    length: float
    offset: float
    align_to: float = 0.0

    def __post_init__(self) -> None:
        check_seconds("SlidingWindow", "length", self.length)
        check_seconds("SlidingWindow", "offset", self.offset)
        check_seconds("SlidingWindow", "align_to", self.align_to, allowed="any")
        if self.offset > self.length:
            raise ConfigError(
                f"SlidingWindow.offset ({self.offset}) must be <= length ({self.length}); "
                "for windows that do not overlap use TumblingWindow",
                key="offset",
            )

    @property
    def grid(self) -> Grid:
        """The grid of windows."""
        return Grid(float(self.length), float(self.offset), float(self.align_to))

    def windows_for(self, t: float) -> list[Window]:
        """The windows holding event time ``t``, earliest first."""
        return _windows_for(self.grid, t)


@dataclass(frozen=True)
class SessionWindow:
    """Per-key windows of activity: they end after ``gap`` seconds with no event.

    An event at time ``t`` opens ``[t, t + gap)``; an event falling inside a
    session (or whose own ``[t, t + gap)`` overlaps it) extends it, and can
    merge two sessions into one.

    >>> SessionWindow(gap=30.0).gap
    30.0
    """

    gap: float

    def __post_init__(self) -> None:
        check_seconds("SessionWindow", "gap", self.gap)


Windower: TypeAlias = TumblingWindow | SlidingWindow | SessionWindow
"""Any window specification accepted by :class:`WindowAggregateConfig`."""


def _windows_for(grid: Grid, t: float) -> list[Window]:
    first, last = grid.index_range(float(t))
    return [grid.window(k) for k in range(first, last + 1)]
