"""Tests of the benchmark harness itself: input, query semantics, equality check, end to end.

Run with ``.venv/bin/python -m pytest bench -q`` (not part of the project's ``tests/`` suite).
The Bytewax test creates ``.bench-venv`` on first use, which needs network access and a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import check
import events
import impl_columnar
import impl_polars
import impl_python
import run_core
from queries import QUERY_NAMES, Implementation
from report import RunRecord

ROOT = Path(__file__).resolve().parent.parent
IN_PROCESS: list[Implementation] = [
    impl_python.IMPLEMENTATION,
    impl_columnar.NUMPY,
    impl_polars.POLARS,
]


def _run(impl: Implementation, query: str, cols: events.EventColumns) -> tuple[dict, int]:
    out = impl.queries[query](impl.prepare(cols))
    return check.canonicalize(query, out.rows), out.late


def _columns(rows: list[tuple[int, float, float]]) -> events.EventColumns:
    key, ts, value = zip(*rows, strict=True)
    return events.EventColumns(
        key=np.array(key, dtype=np.int64), ts=np.array(ts), value=np.array(value)
    )


def test_generator_is_deterministic_and_never_late() -> None:
    a, b = events.generate(50_000, seed=5), events.generate(50_000, seed=5)
    assert events.digest(a) == events.digest(b)
    assert events.digest(a) != events.digest(events.generate(50_000, seed=6))
    seen = np.maximum.accumulate(a.ts)
    assert (a.ts[1:] >= seen[:-1] - 2).all()
    assert (seen[:-1] - a.ts[1:]).max() > 1.9  # the disorder really is close to 2 s
    assert ((a.key >= 0) & (a.key < events.NUM_KEYS)).all()
    # Whole microseconds, so datetime conversion and window assignment are exact.
    assert (np.rint(a.ts * 1e6) / 1e6 == a.ts).all()


@pytest.mark.parametrize("query", QUERY_NAMES)
def test_in_process_implementations_agree(query: str) -> None:
    cols = events.generate(40_000, seed=11)
    expected, late = _run(IN_PROCESS[0], query, cols)
    assert late == 0
    assert len(next(iter(expected.values()))) > 0
    for impl in IN_PROCESS[1:]:
        actual, impl_late = _run(impl, query, cols)
        assert check.compare(query, expected, actual).problems == [], impl.name
        assert impl_late == 0


def test_late_events_are_dropped_and_counted_everywhere() -> None:
    # Watermark after ts 105 is 103, so the event at 102.9 is late; 103.5 is not.
    cols = _columns([(1, 100.0, 1.0), (1, 105.0, 2.0), (1, 102.9, 50.0), (2, 103.5, 4.0)])
    for impl in IN_PROCESS:
        b, late = _run(impl, "B", cols)
        assert late == 1, impl.name
        assert b["count"].tolist() == [2, 1], impl.name  # keys 1 and 2, window [100, 110)
        assert b["max"].max() == 4.0, impl.name


def test_tumbling_windows_align_to_epoch_and_aggregate() -> None:
    cols = _columns([(7, 9.5, 1.0), (7, 10.0, 2.0), (7, 10.5, 5.0), (3, 11.0, 4.0)])
    for impl in IN_PROCESS:
        b, _ = _run(impl, "B", cols)
        rows = list(
            zip(
                *(b[n].tolist() for n in ("key", "window_start", "count", "sum", "max")),
                strict=True,
            )
        )
        assert rows == [(3, 10, 1, 4.0, 4.0), (7, 0, 1, 1.0, 1.0), (7, 10, 2, 7.0, 5.0)], impl.name


def test_sliding_hottest_key_breaks_ties_by_smallest_key() -> None:
    # Keys 5 and 3 both have two events in every window holding them; 3 must win.
    cols = _columns([(5, 20.5, 0.0), (3, 20.6, 0.0), (5, 21.0, 0.0), (3, 21.5, 0.0)])
    for impl in IN_PROCESS:
        c, _ = _run(impl, "C", cols)
        assert c["window_start"].tolist() == [12, 14, 16, 18, 20], impl.name
        assert c["key"].tolist() == [3] * 5, impl.name
        assert c["count"].tolist() == [2] * 5, impl.name


def test_compare_reports_differences_and_tolerates_sum_rounding() -> None:
    base = check.canonicalize("B", [(1, 10, 2, 3.0, 2.0), (2, 10, 1, 1.0, 1.0)])
    rounded = {k: v.copy() for k, v in base.items()}
    rounded["sum"][0] *= 1 + 1e-12
    assert check.compare("B", base, rounded).problems == []
    off = {k: v.copy() for k, v in base.items()}
    off["sum"][0] *= 1 + 1e-6
    off["count"][1] = 2
    problems = check.compare("B", base, off).problems
    assert len(problems) == 2
    assert "column count" in problems[0] and "column sum" in problems[1]


def _run_core(tmp_path: Path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "out.json"
    command = [sys.executable, str(ROOT / "bench" / "run_core.py"), f"--json={out}", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert out.exists(), done.stderr
    return done.returncode, json.loads(out.read_text())


def test_harness_end_to_end_without_bytewax(tmp_path: Path) -> None:
    rc, report = _run_core(tmp_path, "--events=20000", "--skip-bytewax")
    assert rc == 0, report["failures"]
    by_cell = {(s["query"], s["impl"]): s for s in report["summary"]}
    assert by_cell[("B", "numpy")]["check"].startswith("= python")
    assert by_cell[("C", "python")]["vs_python"] == 1.0
    assert by_cell[("A", "streamgale")]["status"] == "pending"
    assert all(r["peak_rss_mib"] > 10 for r in report["runs"] if r["status"] == "ok")


def test_harness_runs_bytewax_in_its_own_venv(tmp_path: Path) -> None:
    rc, report = _run_core(tmp_path, "--events=5000", "--impls=python,bytewax")
    assert rc == 0, report["failures"]
    bytewax_runs = [r for r in report["runs"] if r["impl"] == "bytewax"]
    assert len(bytewax_runs) == 3
    assert all(r["versions"]["bytewax"] == "0.21.1" for r in bytewax_runs)
    assert all(
        s["check"].startswith("= python") for s in report["summary"] if s["impl"] != "python"
    )


def test_verdict_flags_wrong_results_late_counts_inputs_and_crashes() -> None:
    def record(impl: str, **kw: object) -> RunRecord:
        fields = {"status": "ok", "late": 0, "input_digest": "d", "elapsed_s": 1.0} | kw
        return RunRecord(impl=impl, query="C", repeat=0, events=4, **fields)  # type: ignore[arg-type]

    good = check.canonicalize("C", [(10, 5, 7)])
    reference = (record("python"), good)
    assert run_core._verdict("C", record("x"), good, reference) == "= python"
    wrong = check.canonicalize("C", [(10, 4, 7)])
    assert run_core._verdict("C", record("x"), wrong, reference).startswith("MISMATCH")
    assert "late count" in run_core._verdict("C", record("x", late=1), good, reference)
    assert "input digest" in run_core._verdict("C", record("x", input_digest="e"), good, reference)
    crashed = record("x", status="error", detail="exit 1: boom")
    assert run_core._verdict("C", crashed, None, reference) == "ERROR: exit 1: boom"
    assert run_core._verdict("C", record("x", status="pending"), None, reference) == "pending"
