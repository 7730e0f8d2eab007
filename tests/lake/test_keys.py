"""Each row key lands once: rows recorded again (a producer's replay) are dropped."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from streamgale.lake import Lake, LakeSink
from streamgale.lake.keys import LandedKeys
from streamgale.lake.rows import rows_to_arrow
from tests.lake.test_sink import build


def result(result_id: str, version: int = 1) -> dict[str, Any]:
    return {
        "table": "results",
        "ts": 1_714_557_600,
        "pipeline": "radiology",
        "result_id": result_id,
        "version": version,
    }


def landed(lake: Path) -> list[tuple[str, int]]:
    if not list((lake / "results").rglob("*.parquet")):
        return []
    got = ds.dataset(lake / "results", partitioning="hive").to_table()
    return sorted(zip(got["result_id"].to_pylist(), got["version"].to_pylist(), strict=True))


def test_a_row_recorded_again_lands_once(tmp_path: Path) -> None:
    out = build(LakeSink(tmp_path / "lake"), tmp_path / "state")
    out.write_batch([result("a"), result("a"), result("b")])
    out.flush()
    out.write_batch([result("a"), result("a", version=2)])  # a replay, and a new version
    out.flush()
    assert landed(tmp_path / "lake") == [("a", 1), ("a", 2), ("b", 1)]


def test_rows_without_a_key_are_all_landed(tmp_path: Path) -> None:
    row = {"table": "telemetry", "ts": 0, "pipeline": "p", "step": "s", "stage": "received"}
    row |= {"level": "instance", "outcome": "ok"}  # and no event_id
    out = build(LakeSink(tmp_path / "lake"), tmp_path / "state")
    out.write_batch([row, row])
    out.flush()
    got = ds.dataset(tmp_path / "lake" / "telemetry", partitioning="hive").to_table()
    assert got.num_rows == 2


def test_a_restart_forgets_the_keys_of_the_rows_it_replays(tmp_path: Path) -> None:
    sink, state = LakeSink(tmp_path / "lake"), tmp_path / "state"
    out = build(sink, state)
    out.write_batch([result("a")])
    out.flush()
    committed = out.snapshot()  # the checkpoint covers "a"
    out.write_batch([result("b")])
    out.flush()  # "b" is written, but the process dies before the next checkpoint
    out = build(sink, state, resume=committed)  # deletes the file holding "b"
    assert landed(tmp_path / "lake") == [("a", 1)]
    out.write_batch([result("a"), result("b")])  # "b" replayed; "a" recorded again
    out.flush()
    assert landed(tmp_path / "lake") == [("a", 1), ("b", 1)]


def test_a_failed_write_forgets_its_keys_so_the_retry_lands_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = build(LakeSink(tmp_path / "lake"), tmp_path / "state")
    real = Lake.write_arrow
    broken = True

    def flaky(self: Lake, table: str, data: Any, **kwargs: Any) -> list[str]:
        if broken:
            raise OSError("No space left on device")
        return real(self, table, data, **kwargs)

    monkeypatch.setattr(Lake, "write_arrow", flaky)
    out.write_batch([result("a")])
    with pytest.raises(OSError, match="No space"):
        out.flush()
    broken = False
    out.flush()
    assert landed(tmp_path / "lake") == [("a", 1)]


def test_keys_that_cannot_be_recorded_unwrite_their_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = build(LakeSink(tmp_path / "lake"), tmp_path / "state")
    real = LandedKeys.record
    broken = True

    def flaky(self: LandedKeys, table: str, digests: list[bytes], *, seq: int) -> None:
        if broken:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, table, digests, seq=seq)

    monkeypatch.setattr(LandedKeys, "record", flaky)
    out.write_batch([result("a")])
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        out.flush()
    assert landed(tmp_path / "lake") == []  # no row whose key is not remembered
    broken = False
    out.flush()
    out.write_batch([result("a")])
    out.flush()
    assert landed(tmp_path / "lake") == [("a", 1)]


def test_only_the_newest_keys_of_each_table_are_kept(tmp_path: Path) -> None:
    keys = LandedKeys(tmp_path / "keys.sqlite", keep=4)

    def lands(result_id: str, seq: int) -> bool:
        fresh, digests = keys.admit("results", rows_to_arrow("results", [result(result_id)]))
        keys.record("results", digests, seq=seq)
        keys.prune()
        return bool(fresh.num_rows)

    assert [lands(str(n), seq=n) for n in range(6)] == [True] * 6  # 6 > 4 x 1.25: pruned
    assert not lands("5", seq=6) and not lands("2", seq=7)  # the newest 4 are remembered
    assert lands("0", seq=8)  # the oldest were forgotten
    keys.close()
    again = LandedKeys(tmp_path / "keys.sqlite", keep=4)  # and they survive a restart
    assert not again.admit("results", rows_to_arrow("results", [result("0")]))[1]
    again.close()
