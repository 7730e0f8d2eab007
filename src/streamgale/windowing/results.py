"""Keys and result batches shared by the window, running-aggregate and join logic.

Results follow the input's shape: a list of dicts for list input, one
:class:`~streamgale.batch.ColumnBatch` for columnar input. Keys are sorted in
their natural order; keys of mixed, unorderable types fall back to sorting by
type name, then ``repr``, so a result order always exists.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from streamgale.batch import Batch, ColumnBatch
from streamgale.errors import ConfigError

__all__ = [
    "KeyGetter",
    "check_key",
    "check_port",
    "columns_of",
    "key_order",
    "read_key",
    "rows_as",
    "select",
    "sort_keys",
]

Array: TypeAlias = npt.NDArray[Any]
KeyGetter: TypeAlias = str | Callable[[Any], Hashable]
"""A field/column name, or a function of the record returning its key."""


def check_key(owner: str, key: Any, name: str = "key") -> None:
    """Raise :class:`ConfigError` unless ``key`` is a field name or a function."""
    if not (isinstance(key, str) or callable(key)):
        raise ConfigError(
            f"{owner}.{name} must be a field/column name (str) or a function of the record "
            f"returning a hashable key; got {key!r}",
            key=name,
        )


def check_port(owner: str, port: int, ports: int = 1) -> None:
    """Raise :class:`ConfigError` unless ``port`` is one of the step's ``ports`` input ports."""
    if not 0 <= port < ports:
        wanted = "0" if ports == 1 else f"0 to {ports - 1}"
        raise ConfigError(f"{owner} has input port {wanted}; got port {port}", key="port")


def read_key(key: KeyGetter, record: Any) -> Hashable:
    """The key of one record."""
    if callable(key):
        return key(record)
    try:
        value: Hashable = record[key]
    except (KeyError, IndexError, TypeError) as exc:
        raise ConfigError(
            f"cannot read key field '{key}' from record {record!r} "
            f"({type(exc).__name__}: {exc}); check the step's key",
            key="key",
        ) from None
    return value


def _fallback(key: Any) -> tuple[str, str]:
    return (type(key).__name__, repr(key))


def sort_keys(keys: Sequence[Any]) -> list[Any]:
    """Keys in natural order (or by type name and repr when they do not compare)."""
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=_fallback)


def key_order(keys: Array) -> npt.NDArray[np.intp]:
    """Indexes that sort a key column, like :func:`sort_keys`."""
    try:
        return np.argsort(keys, kind="stable")
    except TypeError:
        fallback = [_fallback(k) for k in keys.tolist()]
        return np.asarray(sorted(range(len(fallback)), key=fallback.__getitem__), np.intp)


def rows_as(rows: list[dict[str, Any]], columnar: bool) -> Batch:
    """Result rows as a list, or as one ColumnBatch when the input was columnar."""
    if not columnar:
        return rows
    names = list(rows[0])
    columns: dict[str, Array] = {}
    for name in names:
        values = [row[name] for row in rows]
        column = np.asarray(values) if _scalars(values) else _objects(values)
        columns[name] = column
    return ColumnBatch(columns)


def _scalars(values: list[Any]) -> bool:
    return all(isinstance(v, int | float | str | bytes | np.generic) for v in values)


def _objects(values: list[Any]) -> Array:
    column = np.empty(len(values), object)
    column[:] = values
    return column


def select(batch: Batch, mask: npt.NDArray[np.bool_]) -> Batch:
    """Rows of ``batch`` where ``mask`` is true, keeping the batch's type and records."""
    if isinstance(batch, ColumnBatch):
        return batch.filter(mask)
    return [record for record, keep in zip(batch, mask.tolist(), strict=True) if keep]


def columns_of(records: Sequence[Any], names: Sequence[str]) -> ColumnBatch:
    """The named fields of dict-like records as numpy columns."""
    columns: dict[str, Array] = {}
    for name in dict.fromkeys(names):
        try:
            values = [record[name] for record in records]
        except (KeyError, IndexError, TypeError) as exc:
            raise ConfigError(
                f"a record has no field '{name}' ({type(exc).__name__}: {exc}); "
                "every record needs the key, time and aggregated fields",
                key=name,
            ) from None
        columns[name] = np.asarray(values) if _scalars(values) else _objects(values)
    return ColumnBatch(columns)
