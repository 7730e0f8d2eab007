"""Aggregations computed per key (and per window): what to compute, and how per record.

Each aggregation is a frozen dataclass naming the value it reads (``of``: a
field/column name, or a function of the record) and folding values into an
accumulator, in arrival order:

* :meth:`Aggregation.initial` turns the first value into an accumulator,
* :meth:`Aggregation.fold` adds one more value,
* :meth:`Aggregation.combine` merges two accumulators (session windows merge),
* :meth:`Aggregation.finish` gives the result.

The built-ins also have a vectorised numpy implementation
(:mod:`streamgale.windowing.vectorised`) that gives the same results; a
:class:`Reduce`, or any ``of`` given as a function, runs per record only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from streamgale.errors import ConfigError

__all__ = [
    "RESULT_FIELDS",
    "Aggregation",
    "Count",
    "First",
    "Last",
    "Max",
    "Mean",
    "Min",
    "Reduce",
    "Sum",
    "ValueGetter",
    "check_aggregations",
]

ValueGetter: TypeAlias = str | Callable[[Any], Any]
"""A field/column name, or a function of the record returning the value."""

RESULT_FIELDS = ("key", "window_start", "window_end")
"""Fields every windowed result row has before the aggregation fields."""


class Aggregation(ABC):
    """One aggregate of the values of a key; see the module docstring.

    ``seq`` is the arrival number of the record, which :class:`First` and
    :class:`Last` need to combine accumulators in arrival order.
    """

    @property
    def source(self) -> ValueGetter | None:
        """What the aggregation reads; ``None`` for the whole record (or nothing)."""
        return None

    def read(self, record: Any) -> Any:
        """The value this aggregation reads from ``record``."""
        source = self.source
        if source is None:
            return record
        if callable(source):
            return source(record)
        try:
            return record[source]
        except (KeyError, IndexError, TypeError) as exc:
            raise ConfigError(
                f"{self!r} cannot read field '{source}' from record {record!r} "
                f"({type(exc).__name__}: {exc}); check the aggregation's `of`",
                key="of",
            ) from None

    @abstractmethod
    def initial(self, value: Any, seq: int) -> Any:
        """Accumulator holding just ``value``."""

    @abstractmethod
    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        """Accumulator after adding ``value``, which arrived after everything in ``acc``."""

    @abstractmethod
    def combine(self, first: Any, second: Any) -> Any:
        """Accumulator of both; ``first`` holds the session that starts earlier."""

    def finish(self, acc: Any) -> Any:
        """The result of an accumulator."""
        return acc


def _check_getter(owner: str, of: Any) -> None:
    if not (isinstance(of, str) or callable(of)):
        raise ConfigError(
            f"{owner}(of=...) must be a field/column name (str) or a function of the record; "
            f"got {of!r}",
            key="of",
        )


@dataclass(frozen=True)
class Count(Aggregation):
    """Number of records.

    >>> agg = Count()
    >>> agg.finish(agg.fold(agg.initial(None, 0), None, 1))
    2
    """

    def read(self, record: Any) -> Any:
        return None

    def initial(self, value: Any, seq: int) -> Any:
        return 1

    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        return acc + 1

    def combine(self, first: Any, second: Any) -> Any:
        return first + second


@dataclass(frozen=True)
class _ValueAggregation(Aggregation):
    of: ValueGetter

    def __post_init__(self) -> None:
        _check_getter(type(self).__name__, self.of)

    @property
    def source(self) -> ValueGetter | None:
        return self.of


@dataclass(frozen=True)
class Sum(_ValueAggregation):
    """Sum of the values, added in arrival order (starting from 0).

    >>> agg = Sum("v")
    >>> agg.finish(agg.fold(agg.initial(1.5, 0), 2, 1))
    3.5
    """

    def initial(self, value: Any, seq: int) -> Any:
        # 0 + value, as the vectorised path adds into zeros (bools become ints).
        return 0 + value

    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        return acc + value

    def combine(self, first: Any, second: Any) -> Any:
        return first + second


@dataclass(frozen=True)
class Min(_ValueAggregation):
    """Smallest value.

    >>> Min("v").fold(Min("v").initial(3, 0), 1, 1)
    1
    """

    def initial(self, value: Any, seq: int) -> Any:
        return value

    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        return value if value < acc else acc

    def combine(self, first: Any, second: Any) -> Any:
        return second if second < first else first


@dataclass(frozen=True)
class Max(_ValueAggregation):
    """Largest value.

    >>> Max("v").fold(Max("v").initial(3, 0), 1, 1)
    3
    """

    def initial(self, value: Any, seq: int) -> Any:
        return value

    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        return value if value > acc else acc

    def combine(self, first: Any, second: Any) -> Any:
        return second if second > first else first


@dataclass(frozen=True)
class Mean(_ValueAggregation):
    """Arithmetic mean, as float (sum in arrival order / count).

    >>> agg = Mean("v")
    >>> agg.finish(agg.fold(agg.initial(1, 0), 2, 1))
    1.5
    """

    def initial(self, value: Any, seq: int) -> Any:
        return (float(value), 1)

    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        return (acc[0] + float(value), acc[1] + 1)

    def combine(self, first: Any, second: Any) -> Any:
        return (first[0] + second[0], first[1] + second[1])

    def finish(self, acc: Any) -> Any:
        return acc[0] / acc[1]


@dataclass(frozen=True)
class First(_ValueAggregation):
    """Value of the earliest-arrived record.

    >>> agg = First("v")
    >>> agg.finish(agg.fold(agg.initial("a", 0), "b", 1))
    'a'
    """

    def initial(self, value: Any, seq: int) -> Any:
        return (seq, value)

    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        return acc

    def combine(self, first: Any, second: Any) -> Any:
        return first if first[0] <= second[0] else second

    def finish(self, acc: Any) -> Any:
        return acc[1]


@dataclass(frozen=True)
class Last(_ValueAggregation):
    """Value of the latest-arrived record.

    >>> agg = Last("v")
    >>> agg.finish(agg.fold(agg.initial("a", 0), "b", 1))
    'b'
    """

    def initial(self, value: Any, seq: int) -> Any:
        return (seq, value)

    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        return (seq, value)

    def combine(self, first: Any, second: Any) -> Any:
        return first if first[0] >= second[0] else second

    def finish(self, acc: Any) -> Any:
        return acc[1]


@dataclass(frozen=True)
class Reduce(Aggregation):
    """A fold with your function: ``fn(acc, value) -> acc``; the first value is the start.

    ``of=None`` folds whole records. Session windows merge two sessions with
    ``fn(acc_a, acc_b)``, so ``fn`` should be associative there. Runs per
    record only.

    >>> agg = Reduce(lambda acc, v: acc * v, of="v")
    >>> agg.finish(agg.fold(agg.initial(3, 0), 4, 1))
    12
    """

    fn: Callable[[Any, Any], Any]
    of: ValueGetter | None = None

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ConfigError(f"Reduce(fn=...) must be a function; got {self.fn!r}", key="fn")
        if self.of is not None:
            _check_getter("Reduce", self.of)

    @property
    def source(self) -> ValueGetter | None:
        return self.of

    def initial(self, value: Any, seq: int) -> Any:
        return value

    def fold(self, acc: Any, value: Any, seq: int) -> Any:
        return self.fn(acc, value)

    def combine(self, first: Any, second: Any) -> Any:
        return self.fn(first, second)


_BUILT_INS = "Count(), Sum(of), Min(of), Max(of), Mean(of), First(of), Last(of), Reduce(fn, of)"


def check_aggregations(
    aggregations: Mapping[str, Any], reserved: tuple[str, ...] = RESULT_FIELDS
) -> None:
    """Raise :class:`ConfigError` unless ``aggregations`` maps new field names to aggregations."""
    if not isinstance(aggregations, Mapping) or not aggregations:
        raise ConfigError(
            f"aggregations must be a non-empty mapping of result field name to aggregation "
            f"({_BUILT_INS}); got {aggregations!r}",
            key="aggregations",
        )
    for name, agg in aggregations.items():
        if not isinstance(name, str) or name in reserved:
            raise ConfigError(
                f"aggregation name {name!r} is not allowed; use a str other than {list(reserved)}",
                key="aggregations",
            )
        if not isinstance(agg, Aggregation):
            raise ConfigError(
                f"aggregation '{name}' is {agg!r}, which is not an aggregation; "
                f"allowed: {_BUILT_INS}",
                key=f"aggregations.{name}",
            )
