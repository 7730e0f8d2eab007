"""Dense integer ids for the keys of a columnar stream.

The vectorised window engine keeps its state in numpy arrays indexed by key
id, so every batch needs ``key value -> id`` for all its rows. Sorting each
batch (``np.unique``) would cost more than the aggregation itself, so
lookups go through vectorised tables (:mod:`.keytables`):

* integer and bool keys in a compact range: a plain lookup array;
* other integers and floats: a bijective mix of their bits in a hash table,
  so equal codes mean equal keys;
* fixed-width strings and bytes: a 64-bit hash in the same table; every
  lookup is verified with a second, independent 64-bit hash of the stored
  key (comparing the strings themselves costs more than the aggregation),
  and on a collision the table is rebuilt with another seed. Two distinct
  strings would have to collide in both hashes (odds about 2**-128 per pair)
  to share an id;
* anything else (object columns): a Python dict, row by row.

Ids are dense (``0 .. len - 1``) in order of first appearance, never reused,
and survive snapshots. Every key ever seen keeps its id.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from streamgale.errors import ConfigError, StreamGaleError
from streamgale.windowing.keytables import CodeTable, DenseInts, mix, string_codes
from streamgale.windowing.results import key_order

__all__ = ["KeyIndex"]

Array: TypeAlias = npt.NDArray[Any]
Ids: TypeAlias = npt.NDArray[np.int64]

_MAX_RESEEDS = 8


def _kind_of(dtype: np.dtype[Any]) -> str:
    if dtype.kind in "iub":
        return "int"
    if dtype.kind == "f":
        return "float"
    if dtype.kind in "US":
        return "text"
    return "object"


class KeyIndex:
    """Maps key values (one numpy column per batch) to dense int64 ids.

    >>> index = KeyIndex()
    >>> index.ids(np.array(["b", "a", "b"])).tolist()
    [0, 1, 0]
    >>> index.values(np.array([1, 0])).tolist()
    ['a', 'b']
    """

    def __init__(self) -> None:
        self._kind: str | None = None
        self._seed = 0
        self._dense: DenseInts | None = DenseInts()
        self._table = CodeTable()
        self._objects: dict[Any, int] = {}
        self._values: Array = np.empty(0)
        self._size = 0
        self._sorted: Ids | None = None  # ids in key order, cached until a key is added
        self._check: npt.NDArray[np.uint64] = np.empty(0, np.uint64)  # second hash of strings

    def __len__(self) -> int:
        return self._size

    def values(self, ids: Ids) -> Array:
        """Key values of ``ids``."""
        return self._values[ids]

    def sorted_ids(self) -> Ids:
        """Every id, ordered by key value (see :func:`.results.key_order`)."""
        if self._sorted is None or len(self._sorted) != self._size:
            self._sorted = key_order(self._values[: self._size]).astype(np.int64)
        return self._sorted

    def ids(self, keys: Array) -> Ids:
        """Ids of ``keys``, giving new keys the next ids in order of first appearance."""
        self._check_kind(keys)
        if self._kind == "object":
            return self._object_ids(keys)
        if self._dense is not None:
            found = self._dense_ids(self._dense, keys)
            if found is not None:
                return found
        for _ in range(_MAX_RESEEDS):
            found = self._hashed_ids(keys)
            if found is not None:
                return found
            self._seed += 1
            self._rebuild()
        raise StreamGaleError(f"key hashing kept colliding after {_MAX_RESEEDS} seeds")

    def _check_kind(self, keys: Array) -> None:
        kind = _kind_of(keys.dtype)
        if self._kind is None:
            self._kind = kind
            self._values = np.empty(16, keys.dtype if kind != "object" else object)
            if kind != "int":
                self._dense = None
        elif kind != self._kind:
            raise ConfigError(
                f"key column changed type from {self._values.dtype} to {keys.dtype}; "
                "keep one key type per step (cast the column upstream)",
                key="key",
            )

    def _dense_ids(self, dense: DenseInts, keys: Array) -> Ids | None:
        """Ids through the lookup array; ``None`` once the keys got too sparse for it."""
        ints = keys.astype(np.int64, copy=False)  # uint64 wraps, but stays one-to-one
        found = dense.find(ints)
        missing = np.flatnonzero(found < 0)
        if len(missing):
            new, first = _first_appearances(ints[missing])
            if not dense.add(new, self._next_ids(len(new)), self._size + len(new)):
                self._dense = None
                self._rebuild()
                return None
            self._store(keys[missing[first]])
            found[missing] = dense.find(ints[missing])
        return found

    def _hashed_ids(self, keys: Array) -> Ids | None:
        """Ids through the hash table; ``None`` when a string hash collided."""
        codes = self._codes(keys, self._seed)
        found = self._table.find(codes)
        missing = np.flatnonzero(found < 0)
        if len(missing):
            new, first = _first_appearances(codes[missing])
            self._table.insert(new, self._next_ids(len(new)))
            self._store(keys[missing[first]])
            found[missing] = self._table.find(codes[missing])
        if self._kind == "text" and not np.array_equal(
            self._check[found], string_codes(keys, _check_seed(self._seed))
        ):
            return None
        return found

    def _next_ids(self, count: int) -> Ids:
        return np.arange(self._size, self._size + count, dtype=np.int64)

    def _codes(self, keys: Array, seed: int) -> npt.NDArray[np.uint64]:
        if self._kind == "int":
            return mix(keys.astype(np.int64, copy=False).view(np.uint64), seed)
        if self._kind == "float":
            # + 0.0 turns -0.0 into 0.0: they are equal keys.
            return mix((keys.astype(np.float64) + 0.0).view(np.uint64), seed)
        return string_codes(keys, seed)

    def _store(self, new_values: Array) -> None:
        end = self._size + len(new_values)
        dtype = np.result_type(self._values.dtype, new_values.dtype)
        if end > len(self._values) or dtype != self._values.dtype:
            grown = np.empty(max(end, 2 * len(self._values)), dtype)
            grown[: self._size] = self._values[: self._size]
            self._values = grown
        self._values[self._size : end] = new_values
        self._size = end
        if self._kind == "text":
            check = string_codes(new_values, _check_seed(self._seed))
            self._check = np.concatenate([self._check[: end - len(new_values)], check])

    def _rebuild(self) -> None:
        """Hash every stored key again (after a reseed, or leaving the lookup array)."""
        self._table = CodeTable()
        known = self._values[: self._size]
        if len(known):
            self._table.insert(self._codes(known, self._seed), np.arange(self._size))
        if self._kind == "text":
            self._check = string_codes(known, _check_seed(self._seed))

    def _object_ids(self, keys: Array) -> Ids:
        table = self._objects
        out = np.empty(len(keys), np.int64)
        for i, key in enumerate(keys.tolist()):
            found = table.get(key)
            if found is None:
                found = table[key] = self._size
                one = np.empty(1, object)
                one[0] = key
                self._store(one)
            out[i] = found
        return out

    def snapshot(self) -> dict[str, Any]:
        """Picklable state: the key values in id order."""
        values = self._values[: self._size].copy()
        return {"kind": self._kind, "seed": self._seed, "values": values}

    @classmethod
    def restore(cls, state: dict[str, Any]) -> KeyIndex:
        """A :class:`KeyIndex` giving the same ids as the one that made ``state``."""
        index = cls()
        values: Array = state["values"]
        if state["kind"] is None:
            return index
        index._check_kind(values)
        index._seed = state["seed"]
        if index._kind == "object":
            index._object_ids(values)
            return index
        index._store(values)
        if index._dense is not None and len(values):
            ids = np.arange(len(values), dtype=np.int64)
            if index._dense.add(values.astype(np.int64, copy=False), ids, len(values)):
                return index
        index._dense = None
        index._rebuild()
        return index


def _first_appearances(values: Array) -> tuple[Array, npt.NDArray[np.intp]]:
    """Distinct values in order of first appearance, and where each first appears."""
    distinct, first = np.unique(values, return_index=True)
    order = np.argsort(first)
    return distinct[order], first[order]


def _check_seed(seed: int) -> int:
    """Seed of the second, independent string hash that verifies lookups."""
    return seed ^ 0x5BD1E995
