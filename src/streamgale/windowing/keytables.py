"""Vectorised lookup tables from key to dense id, used by :mod:`.keyindex`.

* :class:`DenseInts`: integer keys in a compact range, through one lookup
  array over ``[base, base + len)``: a single gather per batch.
* :class:`CodeTable`: 64-bit codes (mixed integer bits, or string hashes) in
  an open-addressing table with linear probing, probed for a whole batch at
  a time. The table is kept at most 1/8 full (1/2 past 4M slots) because
  every probe round costs a few numpy calls, whatever its size.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["CodeTable", "DenseInts", "mix", "string_codes"]

Array: TypeAlias = npt.NDArray[Any]
Codes: TypeAlias = npt.NDArray[np.uint64]
Ids: TypeAlias = npt.NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SPARSE_UP_TO_BITS = 22
_DENSE_MIN_SPAN = 1 << 20


def mix(x: Codes, seed: int) -> Codes:
    """A bijection of uint64 whose top bits depend on every input bit (xorshift, multiply)."""
    x = x ^ np.uint64(seed)
    x ^= x >> np.uint64(32)
    x *= _GOLDEN
    return x


def string_codes(keys: Array, seed: int) -> Codes:
    """Hash fixed-width str/bytes rows to uint64, ignoring the width's zero padding.

    Each row is read as 8-byte words; word ``j`` is multiplied by its own odd
    constant and the products summed, so trailing zero words add nothing and
    ``'ab'`` hashes the same in a ``<U2`` and a ``<U7`` column.
    """
    size = keys.dtype.itemsize
    if size % 8 or size == 0:
        chars = max(8, -(-size // 8) * 8) // keys.dtype.alignment
        keys = keys.astype(f"{keys.dtype.kind}{chars}")
    width = keys.dtype.itemsize // 8
    words = np.ascontiguousarray(keys).view(np.uint64).reshape(len(keys), width)
    multipliers = mix(np.arange(1, words.shape[1] + 1, dtype=np.uint64), seed) | np.uint64(1)
    acc = np.zeros(len(keys), np.uint64)
    for j in range(words.shape[1]):
        acc += words[:, j] * multipliers[j]
    return mix(acc, seed)


class DenseInts:
    """Integer key -> id through a lookup array; refuses ranges much wider than the key count."""

    def __init__(self) -> None:
        self._base = 0
        self._lut: Ids = np.empty(0, np.int64)

    def find(self, keys: Ids) -> Ids:
        """Ids of ``keys`` (int64); -1 where absent."""
        if not len(keys):
            return np.empty(0, np.int64)
        top = self._base + len(self._lut)
        if int(keys.min()) >= self._base and int(keys.max()) < top:
            return self._lut[keys - self._base]
        found = np.full(len(keys), -1, np.int64)
        inside = np.flatnonzero((keys >= self._base) & (keys < top))
        found[inside] = self._lut[keys[inside] - self._base]
        return found

    def add(self, keys: Ids, ids: Ids, total: int) -> bool:
        """Map new ``keys`` to ``ids``; False (nothing changed) if the range got too sparse.

        ``total`` is the number of keys after adding, which bounds the range.
        """
        low = min(int(keys.min()), self._base) if len(self._lut) else int(keys.min())
        high = max(int(keys.max()) + 1, self._base + len(self._lut))
        if high - low > max(_DENSE_MIN_SPAN, 4 * total):
            return False
        if low < self._base or high > self._base + len(self._lut):
            lut = np.full(high - low, -1, np.int64)
            old = self._base - low
            lut[old : old + len(self._lut)] = self._lut
            self._base, self._lut = low, lut
        self._lut[keys - self._base] = ids
        return True


class CodeTable:
    """uint64 code -> id, open addressing with linear probing; all operations vectorised."""

    def __init__(self, bits: int = 10) -> None:
        self._reset(bits)

    def _reset(self, bits: int) -> None:
        self._bits = bits
        self._codes: Codes = np.zeros(1 << bits, np.uint64)
        self._ids: Ids = np.full(1 << bits, -1, np.int64)
        self._size = 0

    def _slots(self, codes: Codes) -> npt.NDArray[np.intp]:
        return (codes >> np.uint64(64 - self._bits)).astype(np.intp)

    def find(self, codes: Codes) -> Ids:
        """Ids of ``codes``; -1 where absent."""
        mask = (1 << self._bits) - 1
        slots = self._slots(codes)
        found = self._ids[slots]
        pending = np.flatnonzero((found >= 0) & (self._codes[slots] != codes))
        found[pending] = -1
        slots = slots[pending]
        while pending.size:
            slots = (slots + 1) & mask
            ids = self._ids[slots]
            hit = (ids >= 0) & (self._codes[slots] == codes[pending])
            found[pending[hit]] = ids[hit]
            go_on = (ids >= 0) & ~hit
            pending, slots = pending[go_on], slots[go_on]
        return found

    def insert(self, codes: Codes, ids: Ids) -> None:
        """Add distinct, absent ``codes`` with their ``ids``."""
        if self._too_full(self._size + len(codes)):
            self._grow(self._size + len(codes))
        mask = (1 << self._bits) - 1
        pending = np.arange(len(codes))
        slots = self._slots(codes)
        while pending.size:
            free = np.flatnonzero(self._ids[slots] < 0)
            # Several codes may want the same free slot: the first one gets it.
            _, first = np.unique(slots[free], return_index=True)
            won = free[first]
            self._ids[slots[won]] = ids[pending[won]]
            self._codes[slots[won]] = codes[pending[won]]
            keep = np.ones(len(pending), bool)
            keep[won] = False
            pending, slots = pending[keep], (slots[keep] + 1) & mask
        self._size += len(codes)

    def _too_full(self, size: int, bits: int | None = None) -> bool:
        bits = self._bits if bits is None else bits
        share = 8 if bits <= _SPARSE_UP_TO_BITS else 2
        return size * share > (1 << bits)

    def _grow(self, needed: int) -> None:
        used = self._ids >= 0
        codes, ids = self._codes[used], self._ids[used]
        bits = self._bits
        while self._too_full(needed, bits):
            bits += 1
        self._reset(bits)
        self.insert(codes, ids)
