"""The ingest journal: records survive reopening until a checkpoint, torn tails are cut off."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import streamgale.dicom.ingest.journal as journal_module
from streamgale.dicom.ingest.journal import Journal, JournalEntry
from streamgale.errors import DicomError

KIB = 1024


@pytest.fixture(autouse=True, params=["direct", "page-cache"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with O_DIRECT writes and with page-cache writes and fdatasync."""
    if request.param == "page-cache":
        monkeypatch.setattr(journal_module, "probe_direct", lambda *args: None)
    return str(request.param)


def always(meta: bytes, data: bytes) -> bool:
    return True


def opened(path: Path, capacity: int = 256 * KIB, **kwargs: object) -> Journal:
    journal = Journal(path, capacity=capacity, **kwargs)  # type: ignore[arg-type]
    list(journal.replay(always))
    return journal


def write(journal: Journal, meta: bytes, data: bytes) -> JournalEntry:
    entry = journal.append(meta, [data])
    journal.sync(entry)
    return entry


def replayed(path: Path, capacity: int = 256 * KIB) -> list[tuple[bytes, bytes]]:
    journal = Journal(path, capacity=capacity)
    try:
        return [(r.meta, r.data) for r in journal.replay(always)]
    finally:
        journal.close()


def test_records_are_replayed_in_order_until_checkpointed(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = opened(path)
    entries = [write(journal, f"m{n}".encode(), bytes([n]) * (100 + n)) for n in range(5)]
    journal.close()  # as a crash would: no checkpoint
    assert replayed(path) == [(f"m{n}".encode(), bytes([n]) * (100 + n)) for n in range(5)]

    assert len(replayed(path)) == 5  # replaying alone drops nothing
    assert [e.end - e.start for e in entries] == [4096] * 5  # one page each, aligned
    journal = opened(path)
    journal.checkpoint_now()  # the owner redid their work on replay: now they may go
    journal.close()
    assert replayed(path) == []


def test_a_checkpoint_drops_completed_records_and_makes_their_items_durable(
    tmp_path: Path,
) -> None:
    flushed: list[list[object]] = []
    path = tmp_path / "journal"
    journal = opened(path, checkpoint=flushed.append)
    first, _second, third = (write(journal, b"m", bytes(10)) for _ in range(3))
    journal.complete(first, "a")
    journal.complete(third, "c")
    journal.checkpoint_now()  # only the done prefix may go: the second holds the third back
    assert flushed == [["a"]]
    journal.close()
    assert len(replayed(path)) == 2

    journal = opened(path, checkpoint=flushed.append)
    journal.checkpoint_now()  # replayed records count as done once the owner replayed them
    journal.close()
    assert replayed(path) == []


def test_a_torn_record_ends_the_journal_and_is_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = opened(path)
    write(journal, b"kept", b"x" * 5000)
    torn = write(journal, b"torn", b"y" * 5000)
    journal.close()

    with path.open("r+b") as handle:  # the data of the second record only half reached the disk
        handle.seek(torn.data_offset + 3000)
        handle.write(bytes(2000))

    def intact(meta: bytes, data: bytes) -> bool:
        return data == (b"x" * 5000 if meta == b"kept" else b"y" * 5000)

    journal = Journal(path, capacity=256 * KIB)
    assert [r.meta for r in journal.replay(intact)] == [b"kept"]
    write(journal, b"next", b"z")  # lands where the torn record was
    journal.close()
    assert [m for m, _ in replayed(path)] == [b"kept", b"next"]


def test_a_damaged_record_header_ends_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = opened(path)
    write(journal, b"first", b"1")
    second = write(journal, b"second", b"2")
    write(journal, b"third", b"3")
    journal.close()
    with path.open("r+b") as handle:
        handle.seek(second.data_offset - 3)  # inside the metadata, which the CRC covers
        handle.write(b"XXX")
    assert [m for m, _ in replayed(path)] == [b"first"]


def test_the_ring_wraps_around_and_replays_across_the_wrap(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    items: list[object] = []
    journal = opened(path, capacity=64 * KIB, checkpoint=items.extend)
    payload = bytes(9000)  # three pages per record: 21 of 64 pages, never a whole number
    for n in range(40):  # five records a trip around the ring, eight trips
        entry = write(journal, str(n).encode(), payload)
        if n < 35:  # the last five stay live
            journal.complete(entry, n)
            journal.checkpoint_now()
    journal.close()
    assert items == list(range(35))
    assert [int(m) for m, _ in replayed(path, 64 * KIB)] == [35, 36, 37, 38, 39]


def test_an_append_waits_for_a_checkpoint_when_the_ring_is_full(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = opened(path, capacity=32 * KIB)
    entries = [write(journal, b"m", bytes(5000)) for _ in range(4)]  # 2 pages each: all 8
    done = threading.Event()

    def append_one() -> None:
        write(journal, b"late", b"")
        done.set()

    writer = threading.Thread(target=append_one)
    writer.start()
    assert not done.wait(0.3), "an append overwrote records no checkpoint had dropped"
    for entry in entries:
        journal.complete(entry, None)
    journal.checkpoint_now()
    assert done.wait(5)
    writer.join()
    journal.close()
    assert [m for m, _ in replayed(path, 32 * KIB)] == [b"late"]


def test_one_flush_covers_every_record_written_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    journal = opened(tmp_path / "journal")
    assert journal.direct == (mode == "direct")
    flushes: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(journal_module.os, "fdatasync", lambda fd: flushes.append(fd) or real(fd))
    first = journal.append(b"a", [b"1"])
    second = journal.append(b"b", [b"2"])
    journal.sync(second)
    journal.sync(first)  # already covered: a concurrent writer would not flush again
    assert len(flushes) == (0 if mode == "direct" else 1)  # O_DSYNC writes need no flush
    journal.close()


def test_concurrent_writers_are_acknowledged_only_behind_a_complete_prefix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal"
    journal = opened(path, capacity=4096 * KIB)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for k in range(20):
                write(journal, f"{n}-{k}".encode(), bytes([n]) * (3000 + 997 * k))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()
    assert errors == []
    records = replayed(path, 4096 * KIB)
    assert sorted(m for m, _ in records) == sorted(
        f"{n}-{k}".encode() for n in range(4) for k in range(20)
    )
    for meta, data in records:
        n, k = (int(x) for x in meta.split(b"-"))
        assert data == bytes([n]) * (3000 + 997 * k)


def test_a_failed_write_or_flush_is_never_trusted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    journal = opened(tmp_path / "journal")

    def broken(*args: object) -> None:
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        if mode == "direct":
            patch.setattr(journal_module.os, "pwrite", broken)
            with pytest.raises(DicomError, match="writing to the journal"):
                journal.append(b"a", [b"1"])
        else:
            patch.setattr(journal_module.os, "fdatasync", broken)
            with pytest.raises(DicomError, match="flushing the journal"):
                journal.sync(journal.append(b"a", [b"1"]))
    with pytest.raises(DicomError, match="cannot be written"):
        journal.sync(journal.append(b"b", [b"2"]))
    journal.close()


def test_a_torn_header_write_falls_back_to_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = opened(path)
    first = write(journal, b"first", b"1")
    journal.complete(first, None)
    journal.checkpoint_now()  # the header now says: replay from the second record
    write(journal, b"second", b"2")
    journal.close()
    newest = max((0, 1), key=lambda slot: _slot_sequence(path, slot))
    with path.open("r+b") as handle:
        handle.seek(newest * 4096 + 20)
        handle.write(b"\xff\xff")  # garbles the newest slot's checkpoint; its CRC fails
    assert [m for m, _ in replayed(path)] == [b"first", b"second"]


def _slot_sequence(path: Path, slot: int) -> int:
    raw = path.read_bytes()[slot * 4096 : slot * 4096 + 16]
    return int.from_bytes(raw[8:16], "little")


def test_a_second_opener_is_refused(tmp_path: Path) -> None:
    journal = opened(tmp_path / "journal")
    with pytest.raises(DicomError, match="open in another InstanceStore"):
        Journal(tmp_path / "journal", capacity=256 * KIB)
    journal.close()
    Journal(tmp_path / "journal", capacity=256 * KIB).close()  # free again once closed


def test_appending_before_replay_and_oversized_records_are_refused(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal", capacity=64 * KIB)
    with pytest.raises(DicomError, match="replay the journal"):
        journal.append(b"m", [b"d"])
    list(journal.replay(always))
    assert journal.fits(32 * KIB - 64) and not journal.fits(32 * KIB)
    with pytest.raises(DicomError, match="over half the journal"):
        journal.append(b"m", [bytes(32 * KIB)])
    journal.close()


def test_an_empty_journal_takes_a_new_capacity_on_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = opened(path, capacity=64 * KIB)
    write(journal, b"m", b"d")
    journal.close()
    journal = opened(path, capacity=128 * KIB)
    assert journal.capacity == 64 * KIB  # a live record pins the ring's size
    journal.checkpoint_now()
    journal.close()
    journal = opened(path, capacity=128 * KIB)
    assert journal.capacity == 128 * KIB
    write(journal, b"after", b"resize")
    journal.close()
    assert replayed(path, 128 * KIB) == [(b"after", b"resize")]


def test_a_journal_with_records_but_no_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = opened(path)
    write(journal, b"m", b"d")
    journal.close()
    with path.open("r+b") as handle:
        handle.write(bytes(8192))
    with pytest.raises(DicomError, match="damaged"):
        Journal(path, capacity=256 * KIB)


def test_zeros_written_ahead_never_land_on_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setattr(journal_module, "_ZERO_AFTER", 16 * KIB)
    monkeypatch.setattr(journal_module, "_ZERO_CHUNK", 8 * KIB)
    path = tmp_path / "journal"
    journal = opened(path, capacity=1024 * KIB)
    sizes = [1000 + 3001 * n % 20000 for n in range(60)]
    for n, size in enumerate(sizes):  # the zeros race ahead of these on the other thread
        write(journal, str(n).encode(), bytes([n]) * size)
    deadline = time.monotonic() + 10
    while mode == "direct" and path.stat().st_size < 8 * KIB + 1024 * KIB:
        assert time.monotonic() < deadline, "the zeros never reached the end of the ring"
        time.sleep(0.01)
    journal.close()
    records = replayed(path, 1024 * KIB)
    assert [(int(m), d) for m, d in records] == [
        (n, bytes([n]) * size) for n, size in enumerate(sizes)
    ]
