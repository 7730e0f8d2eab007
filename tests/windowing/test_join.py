"""WindowJoinConfig: inner join per key and window, lateness and purging."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamgale.errors import ConfigError
from streamgale.runtime.logic import ManualClock
from streamgale.windowing import (
    EventClock,
    SessionWindow,
    SlidingWindow,
    TumblingWindow,
    WindowJoinConfig,
)
from streamgale.windowing.join import WindowJoinLogic

from .helpers import columns


def join(
    windower: Any = None, *, delay: float = 0.0, lateness: float = 0.0, idle: float = math.inf
) -> WindowJoinConfig:
    clock = EventClock("t", max_delay=delay, idle_timeout=idle)
    return WindowJoinConfig(
        windower or TumblingWindow(10.0),
        clock,
        clock,
        left_key="id",
        right_key="ref",
        allowed_lateness=lateness,
    )


def left(t: float, id_: Any, name: str = "") -> dict[str, Any]:
    return {"t": t, "id": id_, "name": name}


def right(t: float, ref: Any, score: int = 0) -> dict[str, Any]:
    return {"t": t, "ref": ref, "score": score}


def pair(key: Any, start: float, end: float, lhs: Any, rhs: Any) -> dict[str, Any]:
    return {"key": key, "window_start": start, "window_end": end, "left": lhs, "right": rhs}


def test_pairs_are_emitted_as_soon_as_they_match() -> None:
    logic = join().build(None, ManualClock())
    a, b = left(1, 7, "a"), left(2, 8, "b")
    assert logic.on_batch(0, [a, b]) == []
    r1, r2 = right(3, 7, 1), right(12, 7, 2)
    assert logic.on_batch(1, [r1, r2]) == [(0, [pair(7, 0.0, 10.0, a, r1)])]
    a2 = left(4, 7, "c")
    assert logic.on_batch(0, [a2]) == [(0, [pair(7, 0.0, 10.0, a2, r1)])]


def test_sliding_windows_emit_a_pair_once_per_shared_window() -> None:
    logic = join(SlidingWindow(10.0, 5.0), delay=100.0).build(None, ManualClock())
    a, r = left(6, 1), right(8, 1)
    logic.on_batch(0, [a])
    out = logic.on_batch(1, [r])
    assert out == [(0, [pair(1, 0.0, 10.0, a, r), pair(1, 5.0, 15.0, a, r)])]


def test_the_join_watermark_is_the_slower_side() -> None:
    logic = join().build(None, ManualClock())
    logic.on_batch(0, [left(50, 1)])  # left at 50, right has nothing yet
    assert logic.watermark() == -math.inf
    assert logic.on_batch(1, [right(5, 1)]) == []  # right's own records are not late
    assert isinstance(logic, WindowJoinLogic) and logic.open_windows() == 2
    logic.on_batch(1, [right(30, 2)])  # join watermark min(50, 30): window [0, 10) purged
    assert logic.open_windows() == 2  # [30, 40) and [50, 60)
    late = logic.on_batch(0, [left(5, 1, "too late")])
    assert late == [(1, [{"side": "left", "record": left(5, 1, "too late")}])]


def test_allowed_lateness_delays_the_purge() -> None:
    logic = join(lateness=5.0).build(None, ManualClock())
    logic.on_batch(0, [left(1, 1), left(13, 9)])
    logic.on_batch(1, [right(13, 9)])
    r = right(4, 1)
    assert logic.on_batch(1, [r]) == [(0, [pair(1, 0.0, 10.0, left(1, 1), r)])]
    logic.on_batch(0, [left(16, 9)])
    logic.on_batch(1, [right(16, 9)])
    assert logic.on_batch(1, [right(2, 1)]) == [(1, [{"side": "right", "record": right(2, 1)}])]


def test_idle_advancement_purges_and_next_awake_says_when() -> None:
    clock = ManualClock(0.0)
    logic = join(idle=1.0).build(None, clock)
    logic.on_batch(0, [left(5, 1)])
    logic.on_batch(1, [right(6, 1)])
    assert logic.next_awake() == 5.0  # left needs 5 s of idleness to reach 10
    clock.set(5.0)
    logic.on_tick(5.0)
    assert isinstance(logic, WindowJoinLogic) and logic.open_windows() == 0
    assert logic.next_awake() is None


def test_upstream_watermark_and_eof() -> None:
    logic = join().build(None, ManualClock())
    logic.on_batch(0, [left(1, 1)])
    assert logic.on_watermark(10.0) == []
    assert isinstance(logic, WindowJoinLogic) and logic.open_windows() == 0
    logic.on_batch(0, [left(11, 1)])
    assert logic.on_eof() == [] and logic.open_windows() == 0


def test_columnar_input_rows_become_dicts() -> None:
    logic = join().build(None, ManualClock())
    logic.on_batch(0, columns([left(1, 1, "a")]))
    out = logic.on_batch(1, columns([right(2, 1, 5)]))
    assert out == [(0, [pair(1, 0.0, 10.0, left(1.0, 1, "a"), right(2.0, 1, 5))])]


def test_bad_config_and_port() -> None:
    with pytest.raises(ConfigError, match="sessions cannot be joined"):
        join(SessionWindow(5.0))
    with pytest.raises(ConfigError) as info:
        WindowJoinConfig(TumblingWindow(1.0), EventClock("t"), "t", "id", "id")  # type: ignore[arg-type]
    assert info.value.key == "right_clock"
    with pytest.raises(ConfigError, match="right_key"):
        WindowJoinConfig(TumblingWindow(1.0), EventClock("t"), EventClock("t"), "id", 5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"ports 0 \(left\) and 1 \(right\)"):
        join().build(None, ManualClock()).on_batch(2, [])


def naive_join(batches: list[tuple[int, list[dict[str, Any]]]]) -> set[tuple[Any, ...]]:
    """All pairs with equal keys in the same 10 s window (nothing late)."""
    lefts = [r for side, batch in batches if side == 0 for r in batch]
    rights = [r for side, batch in batches if side == 1 for r in batch]
    return {
        (lhs["id"], math.floor(lhs["t"] / 10), lhs["name"], rhs["score"])
        for lhs in lefts
        for rhs in rights
        if lhs["id"] == rhs["ref"] and math.floor(lhs["t"] / 10) == math.floor(rhs["t"] / 10)
    }


@settings(max_examples=40, deadline=None)
@given(
    spec=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 50), st.integers(0, 2)), min_size=1, max_size=40
    ),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=5),
    at=st.integers(0, 10),
)
def test_with_generous_delay_every_pair_is_found_once_even_across_restore(
    spec: list[tuple[int, int, int]], sizes: list[int], at: int
) -> None:
    batches: list[tuple[int, list[dict[str, Any]]]] = []
    i = 0
    for n, (side, t, key) in enumerate(spec):
        record = left(t, key, f"l{n}") if side == 0 else right(t, key, n)
        if batches and batches[-1][0] == side and len(batches[-1][1]) < sizes[i % len(sizes)]:
            batches[-1][1].append(record)
        else:
            batches.append((side, [record]))
            i += 1
    config = join(delay=1000.0)
    logic = config.build(None, ManualClock())
    found = []
    for j, (side, batch) in enumerate(batches):
        for port, out in logic.on_batch(side, batch):
            assert port == 0
            found.extend(out)
        if j == at:
            logic = config.build(pickle.loads(pickle.dumps(logic.snapshot())), ManualClock())
    got = [
        (p["key"], p["window_start"] / 10, p["left"]["name"], p["right"]["score"]) for p in found
    ]
    assert len(got) == len(set(got))
    assert set(got) == naive_join(batches)
