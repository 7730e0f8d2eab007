"""FileStateStore specifics: durability, damage detection and crash safety."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from streamgale.errors import ConfigError, StateError
from streamgale.state import FileStateStore, Snapshot


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))


def test_only_the_newest_snapshots_are_kept(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    for epoch in range(1, 5):
        store.save(Snapshot(epoch=epoch))
    assert files(tmp_path) == ["snapshot-000000000003.pkl", "snapshot-000000000004.pkl"]
    store = FileStateStore(tmp_path, keep=1)
    store.save(Snapshot(epoch=5))
    assert files(tmp_path) == ["snapshot-000000000005.pkl"]


def test_a_reopened_store_continues_the_sequence(tmp_path: Path) -> None:
    FileStateStore(tmp_path).save(Snapshot(epoch=1))
    store = FileStateStore(tmp_path)
    store.save(Snapshot(epoch=2))
    loaded = FileStateStore(tmp_path).load()
    assert loaded is not None and loaded.epoch == 2


def test_a_damaged_newest_snapshot_falls_back_to_the_previous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStateStore(tmp_path)
    store.save(Snapshot(epoch=1, sources={"s/0": 1}))
    store.save(Snapshot(epoch=2, sources={"s/0": 2}))
    newest = tmp_path / "snapshot-000000000002.pkl"
    damage(newest)
    with caplog.at_level(logging.WARNING, logger="streamgale.state"):
        loaded = FileStateStore(tmp_path).load()
    assert loaded is not None and loaded.sources == {"s/0": 1}
    assert str(newest) in caplog.text
    assert "checksum mismatch" in caplog.text


@pytest.mark.parametrize(
    "ruin",
    [
        lambda p: p.write_bytes(p.read_bytes()[:-10]),  # truncated
        lambda p: p.write_bytes(b"garbage" * 10),  # not a snapshot
        damage,  # a flipped byte
    ],
    ids=["truncated", "garbage", "flipped"],
)
def test_with_no_intact_snapshot_load_raises_naming_the_files(
    tmp_path: Path, ruin: Callable[[Path], object]
) -> None:
    store = FileStateStore(tmp_path, keep=1)
    store.save(Snapshot(epoch=1))
    path = tmp_path / "snapshot-000000000001.pkl"
    ruin(path)
    with pytest.raises(StateError) as raised:
        store.load()
    assert path.name in str(raised.value)
    assert str(tmp_path) in str(raised.value)
    assert "move it aside" in str(raised.value)


def test_a_crash_before_the_rename_leaves_the_previous_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStateStore(tmp_path)
    store.save(Snapshot(epoch=1, sinks={"out/0": "first"}))

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StateError, match="previous snapshot is intact"):
        store.save(Snapshot(epoch=2, sinks={"out/0": "second"}))
    monkeypatch.undo()
    assert "snapshot-000000000002.pkl.tmp" in files(tmp_path)
    reopened = FileStateStore(tmp_path)
    loaded = reopened.load()
    assert loaded is not None and loaded.sinks == {"out/0": "first"}
    assert files(tmp_path) == ["snapshot-000000000001.pkl"]  # the leftover is gone
    reopened.save(Snapshot(epoch=2))
    loaded = reopened.load()
    assert loaded is not None and loaded.epoch == 2


def test_save_fsyncs_the_file_and_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStateStore(tmp_path)
    synced: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    store.save(Snapshot(epoch=1))
    assert len(synced) == 2


def test_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keep"):
        FileStateStore(tmp_path, keep=0)


def test_a_read_only_store_inspects_without_touching_a_running_writer(tmp_path: Path) -> None:
    """Regression: opening the store discarded the writer's unfinished .tmp file mid-save."""
    writer = FileStateStore(tmp_path)
    writer.save(Snapshot(epoch=1, sources={"s/0": 3}))
    unfinished = tmp_path / "snapshot-000000000002.pkl.tmp"
    unfinished.write_bytes(b"being written")
    reader = FileStateStore(tmp_path, read_only=True)
    assert reader.load().sources == {"s/0": 3}
    assert unfinished.exists()
    with pytest.raises(StateError, match="read-only"):
        reader.save(Snapshot(epoch=2))


def test_queued_batches_round_trip_and_old_snapshots_have_none(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    store.save(Snapshot(epoch=1, channels={"step/0": [[1, 2], [3]]}))
    assert FileStateStore(tmp_path).load().queued("step/0") == [[1, 2], [3]]
    old = Snapshot(epoch=1)
    del old.__dict__["channels"]  # as unpickled from a snapshot written before channels
    assert old.queued("step/0") == []
