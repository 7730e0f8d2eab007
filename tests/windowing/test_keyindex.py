"""KeyIndex: dense ids for key columns, stable across batches and snapshots."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from streamgale.errors import ConfigError
from streamgale.windowing import keyindex
from streamgale.windowing.keyindex import KeyIndex

KEY_COLUMNS = {
    "dense ints": lambda rng, n: rng.integers(0, 500, n),
    "sparse ints": lambda rng, n: (rng.integers(0, 300, n) * 7_919_000_000_000).astype(np.int64),
    "uint64": lambda rng, n: np.array([2**64 - 1, 3, 2**63], np.uint64)[rng.integers(0, 3, n)],
    "bools": lambda rng, n: rng.integers(0, 2, n).astype(bool),
    "floats": lambda rng, n: rng.integers(-50, 50, n) * 0.25,
    "strings": lambda rng, n: np.array([f"user-{i}" for i in range(400)])[rng.integers(0, 400, n)],
    "bytes": lambda rng, n: np.array([b"a", b"bb", b"ccc\x01"])[rng.integers(0, 3, n)],
    "objects": lambda rng, n: np.array([(1, 2), "x", 3, None], object)[rng.integers(0, 4, n)],
}


@pytest.mark.parametrize("kind", list(KEY_COLUMNS))
def test_ids_are_dense_stable_and_in_first_appearance_order(kind: str) -> None:
    rng = np.random.default_rng(7)
    make = KEY_COLUMNS[kind]
    index, seen = KeyIndex(), dict[Any, int]()
    for size in (1, 50, 1000, 0, 300):
        keys = make(rng, size)
        ids = index.ids(keys)
        assert ids.dtype == np.int64 and len(ids) == size
        for key, id_ in zip(keys.tolist(), ids.tolist(), strict=True):
            assert id_ == seen.setdefault(key, len(seen))
        assert index.values(ids).tolist() == keys.tolist()
    assert len(index) == len(seen)
    restored = KeyIndex.restore(pickle.loads(pickle.dumps(index.snapshot())))
    keys = make(rng, 500)
    assert restored.ids(keys).tolist() == index.ids(keys).tolist()


def test_strings_of_different_widths_are_the_same_key() -> None:
    index = KeyIndex()
    first = index.ids(np.array(["ab", "c"]))
    second = index.ids(np.array(["c", "abcdefghijk", "ab"]))
    assert second.tolist() == [first[1], 2, first[0]]


def test_negative_zero_and_zero_are_one_float_key() -> None:
    assert KeyIndex().ids(np.array([0.0, -0.0, 1.0])).tolist() == [0, 0, 1]


def test_dense_ints_switch_to_hashing_when_sparse() -> None:
    index = KeyIndex()
    assert index.ids(np.arange(5)).tolist() == [0, 1, 2, 3, 4]
    assert index.ids(np.array([10**15, 3, -(10**15)])).tolist() == [5, 3, 6]
    assert index.ids(np.array([4, 10**15])).tolist() == [4, 5]


def test_key_type_may_not_change() -> None:
    index = KeyIndex()
    index.ids(np.array([1, 2]))
    with pytest.raises(ConfigError, match="key column changed type"):
        index.ids(np.array(["a"]))


def test_sorted_ids_follow_key_order() -> None:
    index = KeyIndex()
    index.ids(np.array(["m", "b", "z"]))
    assert index.values(index.sorted_ids()).tolist() == ["b", "m", "z"]
    index.ids(np.array(["a"]))
    assert index.values(index.sorted_ids()).tolist() == ["a", "b", "m", "z"]


def test_string_hash_collisions_are_detected_and_reseeded(monkeypatch: pytest.MonkeyPatch) -> None:
    real = keyindex.string_codes

    def colliding(keys: Any, seed: int) -> Any:
        codes = real(keys, seed)
        return codes * np.uint64(0) if seed == 0 else codes  # seed 0: every key collides

    monkeypatch.setattr(keyindex, "string_codes", colliding)
    index = KeyIndex()
    assert index.ids(np.array(["a", "b", "a", "c"])).tolist() == [0, 1, 0, 2]
    assert index.values(np.arange(3)).tolist() == ["a", "b", "c"]
    restored = KeyIndex.restore(index.snapshot())
    assert restored.ids(np.array(["c", "b", "d"])).tolist() == [2, 1, 3]
