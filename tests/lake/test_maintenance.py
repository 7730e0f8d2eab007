"""Compaction (every row exactly once, also across a crash) and retention."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamgale.errors import ConfigError
from streamgale.lake import Lake
from streamgale.lake.storage import LakeStorage
from tests.lake.conftest import LakeTarget
from tests.lake.test_lake import read_table

DAY = datetime(2024, 5, 1, 12, tzinfo=UTC)


def write_small_files(lake: Lake, count: int, pipeline: str = "radiology") -> None:
    for i in range(count):
        lake.write(
            "results",
            [
                {"ts": DAY, "pipeline": pipeline, "result_id": f"{pipeline}-{i}-{j}", "version": j}
                for j in range(3)
            ],
        )


def result_ids(target: LakeTarget) -> Counter[str]:
    return Counter(read_table(target, "results").column("result_id").to_pylist())


def expected_ids(count: int, pipeline: str = "radiology") -> Counter[str]:
    return Counter(f"{pipeline}-{i}-{j}" for i in range(count) for j in range(3))


def test_compaction_merges_small_files_keeping_every_row_once(target: LakeTarget) -> None:
    lake = target.lake()
    write_small_files(lake, 9, "radiology")
    write_small_files(lake, 3, "cardio")  # too few files to be worth it
    assert len(lake.files("results")) == 12
    removed = lake.compact(min_files=8, min_age_seconds=0)
    assert removed == 9
    files = lake.files("results")
    assert len([f for f in files if "pipeline=radiology" in f]) == 1
    assert len([f for f in files if "pipeline=cardio" in f]) == 3
    assert result_ids(target) == expected_ids(9, "radiology") + expected_ids(3, "cardio")
    assert lake.compact(min_files=8, min_age_seconds=0) == 0  # nothing left to do


def test_compaction_leaves_young_and_large_files_alone(target: LakeTarget) -> None:
    lake = target.lake()
    write_small_files(lake, 4)
    # Written just now: younger than the default minimum age.
    assert lake.compact(min_files=2) == 0
    assert lake.compact(min_files=2, min_age_seconds=0, small_bytes=10) == 0
    assert lake.compact(min_files=2, min_age_seconds=0) == 4


def test_crash_after_merged_file_is_completed_by_the_next_run(
    target: LakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = target.lake()
    write_small_files(lake, 8)
    real_delete = type(lake.storage).delete
    deletes: list[str] = []

    def crash_after_one_delete(self: LakeStorage, path: str) -> None:
        deletes.append(path)
        if len(deletes) == 2:
            raise RuntimeError("power cut")
        real_delete(self, path)

    monkeypatch.setattr(type(lake.storage), "delete", crash_after_one_delete)
    with pytest.raises(RuntimeError, match="power cut"):
        lake.compact(min_files=8, min_age_seconds=0)
    monkeypatch.undo()
    # The merged file and 7 inputs are there: rows are doubled, none lost...
    assert len(lake.files("results")) == 8
    doubled = result_ids(target)
    assert set(doubled) == set(expected_ids(8))
    assert sorted(Counter(doubled.values()).items()) == [(1, 3), (2, 21)]
    # ...until the next compaction rolls the interrupted one forward.
    assert lake.compact(min_files=8, min_age_seconds=0) == 7
    assert result_ids(target) == expected_ids(8)
    assert len(lake.files("results")) == 1
    assert not [f for f in lake.storage.list_files("results") if "_compact-" in f.path]


def test_crash_before_merged_file_is_undone_by_the_next_run(
    target: LakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = target.lake()
    write_small_files(lake, 8)

    def crash(self: LakeStorage, path: str, table: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(type(lake.storage), "write_parquet", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        lake.compact(min_files=8, min_age_seconds=0)
    monkeypatch.undo()
    assert result_ids(target) == expected_ids(8)
    manifests = [f for f in lake.storage.list_files("results") if "_compact-" in f.path]
    assert len(manifests) == 1
    assert lake.compact(min_files=8, min_age_seconds=0) == 8
    assert result_ids(target) == expected_ids(8)
    assert [f.path.rsplit("/", 1)[1][:5] for f in lake.storage.list_files("results")] == ["part-"]


def test_compaction_options_are_checked(target: LakeTarget) -> None:
    with pytest.raises(ConfigError, match="min_files"):
        target.lake().compact(min_files=1)
    with pytest.raises(ConfigError, match="unknown lake table"):
        target.lake().compact("nope")


def test_retention_removes_only_partitions_older_than_the_limit(target: LakeTarget) -> None:
    lake = target.lake()
    now = datetime(2024, 5, 10, 6, tzinfo=UTC)
    for days_ago in (0, 1, 2, 3, 9):
        day = now - timedelta(days=days_ago)
        lake.write("results", [{"ts": day, "pipeline": "p", "result_id": str(days_ago)}])
        lake.write(
            "telemetry",
            [
                {
                    "ts": day,
                    "pipeline": "p",
                    "step": "s",
                    "stage": "received",
                    "level": "study",
                    "outcome": "ok",
                }
            ],
        )
    # Two days back from 2024-05-10T06:00 is 05-08T06:00: only days that ended by then go.
    assert lake.apply_retention(2, now=now) == 2 * 2
    dates = sorted(set(read_table(target, "results").column("date").to_pylist()))
    assert dates == ["2024-05-08", "2024-05-09", "2024-05-10"]
    assert read_table(target, "telemetry").num_rows == 3
    assert lake.apply_retention(2, now=now) == 0
    assert lake.apply_retention(0.25, now=now, table="results") == 2
    assert sorted(set(read_table(target, "results").column("date").to_pylist())) == ["2024-05-10"]


def test_retention_leaves_directories_it_does_not_own(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("results", [{"ts": 0, "pipeline": "p", "result_id": "old"}])
    mine = tmp_path / "results" / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("a user's file")
    assert lake.apply_retention(1) == 1
    assert (mine / "keep.txt").read_text() == "a user's file"
    with pytest.raises(ConfigError, match="days"):
        lake.apply_retention(0)


def test_compaction_never_merges_a_users_own_files(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    lake = Lake(tmp_path)
    write_small_files(lake, 3)
    (partition,) = {Path(p).parent for p in lake.files("results")}
    pq.write_table(pa.table({"note": ["mine"]}), partition / "notes.parquet")
    assert lake.compact(min_files=3, min_age_seconds=0) == 3
    assert pq.read_table(partition / "notes.parquet").column("note").to_pylist() == ["mine"]
    assert sorted(p.name[:5] for p in partition.iterdir()) == ["notes", "part-"]


_MERGE_RSS = """
import sys, tempfile
from datetime import UTC, datetime, timedelta
import pyarrow as pa
from streamgale.lake import maintenance
from streamgale.lake.layout import part_name
from streamgale.lake.storage import open_storage
if sys.argv[1] == "keep":  # the allocator keeps what the merge freed, as before the fix
    maintenance._release_arrow_memory = lambda: None
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
storage = open_storage(tempfile.mkdtemp(), None)
written = datetime.now(UTC) - timedelta(hours=1)
for i in range(300):
    rows = {"ts": [float(i * 200 + j) for j in range(200)],
            "attrs": [f'{{"study": "1.2.826.0.1.{i}.{j}", "stage": "infer"}}' for j in range(200)]}
    path = f"spans/date=2024-05-01/pipeline=p/{part_name(written + timedelta(seconds=i))}"
    storage.write_parquet(path, pa.table(rows))
before = rss_mib()
maintenance.compact_table(storage, "spans", min_files=8, small_bytes=2**25,
                          min_age_seconds=0, now=datetime.now(UTC))
print(rss_mib() - before)
"""


def _rss_growth_over_a_merge(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _MERGE_RSS, mode], capture_output=True, text=True, check=True
    )
    return float(out.stdout.split()[-1])


def test_compaction_gives_the_memory_of_a_merge_back() -> None:
    # Issue 8's soak: RSS stepped up ~60 MiB at each compaction and stayed there.
    kept, released = _rss_growth_over_a_merge("keep"), _rss_growth_over_a_merge("release")
    assert released < kept / 2, (kept, released)
