"""The resolved settings a window engine runs on, and per-record reading helpers."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any

from streamgale.windowing.aggregations import Aggregation, Count
from streamgale.windowing.clock import EventClock
from streamgale.windowing.results import KeyGetter, read_key
from streamgale.windowing.windows import Grid

__all__ = ["AggregateSpec"]


@dataclass(frozen=True)
class AggregateSpec:
    """What to aggregate, by which key, over which windows.

    ``grid`` is set for tumbling and sliding windows, ``gap`` for sessions.
    """

    clock: EventClock
    key: KeyGetter
    names: tuple[str, ...]
    aggregations: tuple[Aggregation, ...]
    lateness: float = 0.0
    grid: Grid | None = None
    gap: float = 0.0

    def key_of(self, record: Any) -> Hashable:
        """The key of one record."""
        return read_key(self.key, record)

    def values_of(self, record: Any) -> list[Any]:
        """The value each aggregation reads from one record."""
        try:
            return [read(record) for read in self.readers]
        except (KeyError, IndexError, TypeError):
            # Read again through Aggregation.read, whose error names the field.
            return [agg.read(record) for agg in self.aggregations]

    @cached_property
    def readers(self) -> tuple[Callable[[Any], Any], ...]:
        """One fast value reader per aggregation (a field lookup, or the function)."""
        return tuple(_reader(agg) for agg in self.aggregations)

    def column_names(self) -> list[str]:
        """Columns the vectorised engine reads (valid when key and time are names)."""
        names = [str(self.clock.time), str(self.key)]
        for agg in self.aggregations:
            if not isinstance(agg, Count) and isinstance(agg.source, str):
                names.append(agg.source)
        return names

    def result_row(self, key: Any, start: float, end: float, accs: list[Any]) -> dict[str, Any]:
        """One result row: key, window bounds, then one field per aggregation."""
        row: dict[str, Any] = {"key": key, "window_start": start, "window_end": end}
        for name, agg, acc in zip(self.names, self.aggregations, accs, strict=True):
            row[name] = agg.finish(acc)
        return row


def _nothing(record: Any) -> None:
    return None


def _reader(agg: Aggregation) -> Callable[[Any], Any]:
    if isinstance(agg, Count):
        return _nothing
    source = agg.source
    if source is None:
        return agg.read
    return itemgetter(source) if isinstance(source, str) else source
