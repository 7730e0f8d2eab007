"""Micro-batches: how records move between steps.

A micro-batch is either a plain ``list`` of records, or a :class:`ColumnBatch`:
named, equal-length one-dimensional numpy arrays, one row per record. Steps
that work per record see rows; vectorised steps see the whole columnar batch,
so per-record Python overhead is paid only where the user asks for it.

>>> import numpy as np
>>> b = ColumnBatch({"key": np.array([1, 2, 1]), "value": np.array([0.5, 1.0, 2.0])})
>>> len(b), b.names
(3, ('key', 'value'))
>>> b.filter(b["key"] == 1).to_rows()
[{'key': 1, 'value': 0.5}, {'key': 1, 'value': 2.0}]
>>> ColumnBatch.from_bytes(b.to_bytes()) == b
True
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from streamgale.errors import MissingExtraError, StreamGaleError

__all__ = ["Batch", "ColumnBatch", "batch_len", "iter_rows"]

Array: TypeAlias = npt.NDArray[Any]

_MAGIC = b"SGCB1"
_HEADER_LEN = struct.Struct("<I")


class ColumnBatch(Mapping[str, Array]):
    """Named, equal-length 1-D numpy columns; one row per record.

    Columns are never copied on construction; treat them as read-only.
    """

    __slots__ = ("_columns", "_length")

    def __init__(self, columns: Mapping[str, Array | Sequence[Any]]) -> None:
        cols = {name: np.asarray(col) for name, col in columns.items()}
        lengths = {name: col.shape[0] if col.ndim else -1 for name, col in cols.items()}
        if any(col.ndim != 1 for col in cols.values()):
            bad = [n for n, c in cols.items() if c.ndim != 1]
            raise StreamGaleError(f"ColumnBatch columns must be 1-D arrays; not 1-D: {bad}")
        if len(set(lengths.values())) > 1:
            raise StreamGaleError(f"ColumnBatch columns must have equal lengths; got {lengths}")
        self._columns = cols
        self._length = next(iter(lengths.values()), 0)

    # Mapping protocol ---------------------------------------------------
    def __getitem__(self, name: str) -> Array:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(
                f"no column '{name}' in batch; columns are {list(self._columns)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return self._length

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ColumnBatch):
            return NotImplemented
        return self.names == other.names and all(
            np.array_equal(self[n], other[n]) for n in self.names
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ColumnBatch(rows={self._length}, columns={list(self._columns)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._columns)

    @property
    def nbytes(self) -> int:
        return sum(col.nbytes for col in self._columns.values())

    # Row views ----------------------------------------------------------
    def to_rows(self) -> list[dict[str, Any]]:
        """The rows as dicts of Python scalars (slow path, for per-record steps)."""
        names = self.names
        lists = [self._columns[n].tolist() for n in names]
        return [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> ColumnBatch:
        if not rows:
            return cls({})
        names = list(rows[0])
        return cls({n: np.asarray([r[n] for r in rows]) for n in names})

    # Relational helpers -------------------------------------------------
    def filter(self, mask: Array) -> ColumnBatch:
        return ColumnBatch({n: c[mask] for n, c in self._columns.items()})

    def take(self, indices: Array) -> ColumnBatch:
        return ColumnBatch({n: c[indices] for n, c in self._columns.items()})

    def slice(self, start: int, stop: int) -> ColumnBatch:
        return ColumnBatch({n: c[start:stop] for n, c in self._columns.items()})

    def with_columns(self, **columns: Array) -> ColumnBatch:
        return ColumnBatch({**self._columns, **columns})

    @staticmethod
    def concat(batches: Sequence[ColumnBatch]) -> ColumnBatch:
        non_empty = [b for b in batches if len(b)]
        if not non_empty:
            return batches[0] if batches else ColumnBatch({})
        if len(non_empty) == 1:
            return non_empty[0]
        names = non_empty[0].names
        return ColumnBatch({n: np.concatenate([b[n] for b in non_empty]) for n in names})

    # Arrow interop (optional extra) ------------------------------------
    def to_arrow(self) -> Any:
        pa = _pyarrow()
        return pa.RecordBatch.from_pydict(dict(self._columns))

    @classmethod
    def from_arrow(cls, record_batch: Any) -> ColumnBatch:
        """Columns of an Arrow RecordBatch or Table, zero-copy where Arrow allows."""
        return cls(
            {
                name: record_batch.column(i).to_numpy(zero_copy_only=False)
                for i, name in enumerate(record_batch.schema.names)
            }
        )

    # Serialisation (used by the durable log) ----------------------------
    def to_bytes(self) -> bytes:
        """A compact self-describing encoding: JSON header, then raw buffers."""
        cols = [np.ascontiguousarray(c) for c in self._columns.values()]
        if any(c.dtype.hasobject for c in cols):
            raise StreamGaleError(
                "ColumnBatch.to_bytes cannot encode object columns; "
                "use numeric, bool or fixed-width string dtypes"
            )
        header = json.dumps(
            {
                "n": self._length,
                "cols": [[n, c.dtype.str] for n, c in zip(self.names, cols, strict=True)],
            }
        ).encode()
        parts = [_MAGIC, _HEADER_LEN.pack(len(header)), header]
        parts.extend(c.tobytes() for c in cols)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> ColumnBatch:
        view = memoryview(data)
        if bytes(view[: len(_MAGIC)]) != _MAGIC:
            raise StreamGaleError("bytes are not a ColumnBatch encoding (bad magic)")
        pos = len(_MAGIC)
        (hlen,) = _HEADER_LEN.unpack_from(view, pos)
        pos += _HEADER_LEN.size
        header = json.loads(bytes(view[pos : pos + hlen]))
        pos += hlen
        n = header["n"]
        columns: dict[str, Array] = {}
        for name, dtype_str in header["cols"]:
            dtype = np.dtype(dtype_str)
            size = dtype.itemsize * n
            columns[name] = np.frombuffer(view[pos : pos + size], dtype=dtype)
            pos += size
        return cls(columns)

    @staticmethod
    def is_encoded(data: bytes | memoryview) -> bool:
        return bytes(memoryview(data)[: len(_MAGIC)]) == _MAGIC


Batch: TypeAlias = "list[Any] | ColumnBatch"
"""One micro-batch: a list of records, or a columnar batch of rows."""


def batch_len(batch: Batch) -> int:
    return len(batch)


def iter_rows(batch: Batch) -> Iterable[Any]:
    """Records of a batch one by one: rows of a ColumnBatch become dicts."""
    if isinstance(batch, ColumnBatch):
        return batch.to_rows()
    return batch


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
    except ImportError as exc:
        raise MissingExtraError("Arrow interop", "parquet", "pyarrow") from exc
    return pa
