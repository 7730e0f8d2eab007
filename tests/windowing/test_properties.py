"""Property tests: results match a reference model and never depend on batch boundaries.

* integer times and values: the logic equals a brute-force model of the
  documented semantics, whatever the batch split and input shape;
* float times and values: list and columnar input, and every batch split,
  agree to the last bit (both paths fold in arrival order);
* snapshot after any batch, restore, continue: same output as one run.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamgale.runtime.logic import ManualClock
from streamgale.windowing import (
    Count,
    EventClock,
    First,
    Last,
    Max,
    Mean,
    Min,
    SessionWindow,
    SlidingWindow,
    Sum,
    TumblingWindow,
    WindowAggregateConfig,
    Windower,
)

from .helpers import Collected, columns, split

AGGREGATIONS = {
    "n": Count(),
    "sum": Sum("v"),
    "min": Min("v"),
    "max": Max("v"),
    "mean": Mean("v"),
    "first": First("v"),
    "last": Last("v"),
}
# The last two often span more than 64 windows in one batch, where the vectorised
# engine groups rows by sorting instead of masking.
GRIDS = [
    TumblingWindow(5.0),
    SlidingWindow(6.0, 2.0),
    SlidingWindow(5.0, 2.0),
    TumblingWindow(4.0, 1.0),
    TumblingWindow(0.25),
    SlidingWindow(0.75, 0.25),
]
WINDOWERS: list[Windower] = [*GRIDS, SessionWindow(3.0)]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

int_events = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 3), st.integers(-50, 50)), min_size=1, max_size=60
)
float_events = st.lists(
    st.tuples(
        st.floats(0, 60, allow_nan=False),
        st.integers(0, 4),
        st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    ),
    min_size=1,
    max_size=60,
)
cuts = st.lists(st.integers(1, 59), max_size=6)


def records_of(spec: list[tuple[Any, int, Any]]) -> list[dict[str, Any]]:
    return [{"t": float(t), "k": k, "v": v} for t, k, v in spec]


def config(
    windower: Windower, delay: float, lateness: float, key: Any = "k"
) -> WindowAggregateConfig:
    return WindowAggregateConfig(
        windower,
        EventClock("t", max_delay=delay, idle_timeout=2.0),
        key=key,
        aggregations=AGGREGATIONS,
        allowed_lateness=lateness,
    )


def drive(
    cfg: WindowAggregateConfig,
    records: list[dict[str, Any]],
    cut_at: list[int],
    columnar: bool,
    *,
    steps: list[int] | None = None,
    snapshot_after: int | None = None,
) -> Collected:
    """Run batches (clock advancing by ``steps``), optionally snapshotting and restoring."""
    clock = ManualClock(0.0)
    logic = cfg.build(None, clock)
    out = Collected()
    for i, batch in enumerate(split(records, cut_at)):
        if steps:
            clock.advance(steps[i % len(steps)])
            out.add(logic.on_tick(clock.now()))
        out.add(logic.on_batch(0, columns(batch) if columnar else batch))
        if snapshot_after == i:
            logic = cfg.build(pickle.loads(pickle.dumps(logic.snapshot())), clock)
    out.add(logic.on_eof())
    return out


def model(
    grid_spec: TumblingWindow | SlidingWindow,
    records: list[dict[str, Any]],
    delay: float,
    lateness: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Brute-force reference of the documented semantics (one instant, no idleness)."""
    length = grid_spec.length
    offset = grid_spec.offset if isinstance(grid_spec, SlidingWindow) else length
    align = grid_spec.align_to
    watermark, seen = -math.inf, -math.inf
    values: dict[tuple[float, float], dict[int, list[Any]]] = {}
    late = []
    for record in records:
        t = record["t"]
        m = math.floor((t - align) / offset)
        starts = [align + j * offset for j in range(m - 10, m + 2)]
        windows = [(s, s + length) for s in starts if s <= t < s + length]
        counted = [w for w in windows if w[1] + lateness > watermark]
        if not counted:
            late.append(record)
        for w in counted:
            values.setdefault(w, {}).setdefault(record["k"], []).append(record["v"])
        seen = max(seen, t)
        watermark = max(watermark, seen - delay)
    rows = []
    for (start, end), by_key in sorted(values.items(), key=lambda kv: kv[0][1]):
        for key in sorted(by_key):
            vs = by_key[key]
            rows.append(
                {
                    "key": key,
                    "window_start": start,
                    "window_end": end,
                    "n": len(vs),
                    "sum": sum(vs),
                    "min": min(vs),
                    "max": max(vs),
                    "mean": math.fsum(vs) / len(vs),
                    "first": vs[0],
                    "last": vs[-1],
                }
            )
    return rows, late


@FAST
@given(
    spec=int_events,
    cut_at=cuts,
    grid=st.sampled_from(GRIDS),
    delay=st.sampled_from([0.0, 3.0]),
    lateness=st.sampled_from([0.0, 2.0]),
    columnar=st.booleans(),
)
def test_grid_windows_match_the_reference_model(
    spec: list[tuple[int, int, int]],
    cut_at: list[int],
    grid: Any,
    delay: float,
    lateness: float,
    columnar: bool,
) -> None:
    records = records_of(spec)
    out = drive(config(grid, delay, lateness), records, cut_at, columnar)
    expected_rows, expected_late = model(grid, records, delay, lateness)
    assert out.results == expected_rows
    assert out.late == expected_late


@FAST
@given(
    spec=float_events,
    cut_at=cuts,
    windower=st.sampled_from(WINDOWERS),
    delay=st.sampled_from([0.0, 2.5]),
    lateness=st.sampled_from([0.0, 1.5]),
)
def test_list_and_columnar_input_and_any_split_agree_exactly(
    spec: list[tuple[float, int, float]],
    cut_at: list[int],
    windower: Any,
    delay: float,
    lateness: float,
) -> None:
    records = records_of(spec)
    cfg = config(windower, delay, lateness)
    reference = drive(cfg, records, [], columnar=False)
    per_record = drive(
        config(windower, delay, lateness, key=lambda r: r["k"]), records, cut_at, True
    )
    for columnar in (False, True):
        out = drive(cfg, records, cut_at, columnar)
        assert out.results == reference.results
        assert out.late == reference.late
    assert per_record.results == reference.results and per_record.late == reference.late


@FAST
@given(
    spec=float_events,
    cut_at=st.lists(st.integers(1, 59), min_size=1, max_size=6),
    windower=st.sampled_from(WINDOWERS),
    steps=st.lists(st.integers(0, 3), min_size=1, max_size=4),
    columnar=st.booleans(),
    data=st.data(),
)
def test_snapshot_and_restore_after_any_batch_changes_nothing(
    spec: list[tuple[float, int, float]],
    cut_at: list[int],
    windower: Any,
    steps: list[int],
    columnar: bool,
    data: st.DataObject,
) -> None:
    records = records_of(spec)
    cfg = config(windower, 1.0, 1.0)
    batches = len(split(records, cut_at))
    at = data.draw(st.integers(0, batches - 1))
    straight = drive(cfg, records, cut_at, columnar, steps=steps)
    resumed = drive(cfg, records, cut_at, columnar, steps=steps, snapshot_after=at)
    assert resumed.results == straight.results
    assert resumed.late == straight.late
