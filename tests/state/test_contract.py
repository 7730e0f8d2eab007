"""The StateStore contract, run against every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from streamgale.errors import StateError
from streamgale.state import FileStateStore, MemoryStateStore, Snapshot, StateStore


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    built: StateStore = (
        MemoryStateStore() if request.param == "memory" else FileStateStore(tmp_path)
    )
    yield built
    built.close()


def snapshot(epoch: int) -> Snapshot:
    return Snapshot(
        epoch=epoch,
        sources={"src/0": {"offset": 10 * epoch}, "src/1": {"offset": 3}},
        steps={"window": {"sums": {"a": 1.5, "b": np.arange(4)}}},
        sinks={"out/0": epoch},
    )


def assert_same(loaded: Snapshot | None, expected: Snapshot) -> None:
    assert loaded is not None
    assert (loaded.epoch, loaded.sources, loaded.sinks) == (
        expected.epoch,
        expected.sources,
        expected.sinks,
    )
    assert loaded.steps["window"]["sums"]["a"] == expected.steps["window"]["sums"]["a"]
    np.testing.assert_array_equal(
        loaded.steps["window"]["sums"]["b"], expected.steps["window"]["sums"]["b"]
    )


def test_load_is_none_before_any_save(store: StateStore) -> None:
    assert store.load() is None


def test_save_load_round_trip(store: StateStore) -> None:
    store.save(snapshot(1))
    assert_same(store.load(), snapshot(1))


def test_a_later_save_replaces_an_earlier_one(store: StateStore) -> None:
    for epoch in (1, 2, 3):
        store.save(snapshot(epoch))
    assert_same(store.load(), snapshot(3))


def test_the_latest_save_wins_even_with_a_lower_epoch(store: StateStore) -> None:
    store.save(snapshot(9))
    store.save(snapshot(1))
    assert_same(store.load(), snapshot(1))


def test_saved_state_is_a_copy(store: StateStore) -> None:
    state: dict[str, list[int]] = {"seen": [1]}
    store.save(Snapshot(epoch=1, steps={"s": state}))
    state["seen"].append(2)
    loaded = store.load()
    assert loaded is not None
    assert loaded.steps == {"s": {"seen": [1]}}


def test_unpicklable_state_is_a_state_error(store: StateStore) -> None:
    bad: Callable[[], None] = lambda: None  # noqa: E731 - lambdas cannot be pickled
    store.save(snapshot(1))
    with pytest.raises(StateError, match="cannot be pickled"):
        store.save(Snapshot(epoch=2, steps={"s": bad}))
    assert_same(store.load(), snapshot(1))


def test_saving_something_else_is_refused(store: StateStore) -> None:
    with pytest.raises(StateError, match="expected a Snapshot"):
        store.save({"epoch": 1})  # type: ignore[arg-type]
