"""The Log contract, run against every backend (MemoryLog and SegmentLog)."""

from __future__ import annotations

import threading

import pytest

from streamgale.errors import LogError, OffsetOutOfRangeError, StreamGaleError
from streamgale.log import Log, LogRecord, Retention

from .conftest import LogFactory
from .helpers import FakeClock, payload, payloads


def read_all(log: Log, topic: str, partition: int, offset: int = 0) -> list[LogRecord]:
    out: list[LogRecord] = []
    while batch := log.read(topic, partition, offset + len(out), 7):
        out.extend(batch)
    return out


# -- topics ------------------------------------------------------------------


def test_create_topic_is_idempotent(log: Log) -> None:
    log.append("events", 0, [b"x"])
    log.create_topic("events", 2)
    assert log.partitions("events") == 2
    assert log.end_offset("events", 0) == 1


def test_create_topic_with_another_partition_count_fails(log: Log) -> None:
    with pytest.raises(LogError, match="already exists with 2 partitions, not 3"):
        log.create_topic("events", 3)


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 201, "sp ace"])
def test_unsafe_topic_names_are_refused(make_log: LogFactory, name: str) -> None:
    with pytest.raises(LogError, match="invalid topic name"):
        make_log().create_topic(name, 1)


@pytest.mark.parametrize("count", [0, -1])
def test_partition_count_must_be_positive(make_log: LogFactory, count: int) -> None:
    with pytest.raises(LogError, match="positive number of partitions"):
        make_log().create_topic("t", count)


def test_unknown_topic_and_partition_are_errors(log: Log) -> None:
    with pytest.raises(LogError, match="unknown topic 'nope'"):
        log.append("nope", 0, [b"x"])
    with pytest.raises(LogError, match=r"partitions 0\.\.1, got partition 2"):
        log.read("events", 2, 0, 1)
    with pytest.raises(StreamGaleError):
        log.end_offset("events", -1)


# -- append and read ---------------------------------------------------------


def test_append_read_round_trip(log: Log) -> None:
    data = [b"", b"a", b"\x00\xff" * 1000, bytes(range(256))]
    first = log.append("events", 0, data)
    records = log.read("events", 0, first, 10)
    assert [r.payload for r in records] == data
    assert [r.offset for r in records] == [0, 1, 2, 3]
    assert all(isinstance(r.timestamp, float) for r in records)


def test_offsets_are_monotonic_per_partition(log: Log) -> None:
    firsts = [log.append("events", 0, payloads(0, n)) for n in (1, 3, 5, 2)]
    assert firsts == [0, 1, 4, 9]
    assert log.end_offset("events", 0) == 11
    assert [r.offset for r in read_all(log, "events", 0)] == list(range(11))


def test_empty_append_is_a_no_op(log: Log) -> None:
    log.append("events", 0, [b"a"])
    assert log.append("events", 0, []) == 1
    assert log.end_offset("events", 0) == 1


def test_partitions_are_independent(log: Log) -> None:
    log.append("events", 0, [b"a0", b"b0"])
    log.append("events", 1, [b"a1"])
    assert log.end_offset("events", 0) == 2
    assert log.end_offset("events", 1) == 1
    assert [r.payload for r in log.read("events", 1, 0, 10)] == [b"a1"]
    assert [r.payload for r in log.read("events", 0, 0, 10)] == [b"a0", b"b0"]


def test_read_at_end_returns_empty(log: Log) -> None:
    assert log.read("events", 0, 0, 10) == []
    log.append("events", 0, [b"a"])
    assert log.read("events", 0, 1, 10) == []


def test_read_past_end_is_out_of_range(log: Log) -> None:
    log.append("events", 0, [b"a"])
    with pytest.raises(OffsetOutOfRangeError, match="past the end"):
        log.read("events", 0, 2, 10)


def test_max_records_is_respected(log: Log) -> None:
    log.append("events", 0, payloads(0, 25))
    assert len(log.read("events", 0, 0, 1)) == 1
    records = log.read("events", 0, 3, 12)
    assert [r.offset for r in records] == list(range(3, 15))
    assert [r.payload for r in records] == payloads(3, 12)
    with pytest.raises(LogError, match="max_records must be a positive integer"):
        log.read("events", 0, 0, 0)


def test_reads_at_random_offsets_across_segments(log: Log) -> None:
    for start in range(0, 95, 5):
        log.append("events", 0, payloads(start, 5))
    for offset in (94, 0, 57, 10, 9, 11, 30, 93):
        records = log.read("events", 0, offset, 4)
        assert [r.payload for r in records] == payloads(offset, min(4, 95 - offset))


def test_timestamps_come_from_the_clock(make_log: LogFactory) -> None:
    clock = FakeClock(123.5)
    log = make_log(clock=clock)
    log.create_topic("t", 1)
    log.append("t", 0, [b"a", b"b"])
    clock.now = 200.0
    log.append("t", 0, [b"c"])
    assert [r.timestamp for r in log.read("t", 0, 0, 10)] == [123.5, 123.5, 200.0]


# -- commits -----------------------------------------------------------------


def test_commit_committed_round_trip(log: Log) -> None:
    log.append("events", 0, payloads(0, 5))
    assert log.committed("g", "events", 0) is None
    log.commit("g", "events", 0, 3)
    log.commit("other", "events", 0, 1)
    assert log.committed("g", "events", 0) == 3
    assert log.committed("other", "events", 0) == 1
    assert log.committed("g", "events", 1) is None
    log.commit("g", "events", 0, 5)
    assert log.committed("g", "events", 0) == 5


@pytest.mark.parametrize("offset", [-1, 6])
def test_commit_outside_the_partition_fails(log: Log, offset: int) -> None:
    log.append("events", 0, payloads(0, 5))
    with pytest.raises(LogError, match="cannot commit offset"):
        log.commit("g", "events", 0, offset)


def test_group_names_may_hold_any_character(log: Log) -> None:
    log.append("events", 0, payloads(0, 2))
    for group in ("a/b", "..", ".x", "ünï cødé", "pipe|line:step"):
        log.commit(group, "events", 0, 2)
        assert log.committed(group, "events", 0) == 2


# -- retention ---------------------------------------------------------------


def fill(log: Log, batches: int) -> None:
    """Ten-record batches: exactly one segment each in both backends."""
    for batch in range(batches):
        log.append("t", 0, payloads(batch * 10, 10))


def test_retention_by_size_drops_whole_oldest_segments(make_log: LogFactory) -> None:
    log = make_log(Retention(max_bytes=3000))
    log.create_topic("t", 1)
    fill(log, 10)
    log.apply_retention()
    assert log.start_offset("t", 0) == 70
    assert log.end_offset("t", 0) == 100
    assert [r.offset for r in read_all(log, "t", 0, 70)] == list(range(70, 100))


def test_retention_by_age_uses_the_clock(make_log: LogFactory) -> None:
    clock = FakeClock(1_000.0)
    log = make_log(Retention(max_age_s=500.0), clock=clock)
    log.create_topic("t", 1)
    fill(log, 5)
    clock.now = 1_400.0
    fill(log, 5)
    log.apply_retention()
    assert log.start_offset("t", 0) == 0  # nothing is older than 500 s yet
    clock.now = 1_600.0
    log.apply_retention()
    assert log.start_offset("t", 0) == 50
    clock.now = 1_000_000.0
    log.apply_retention()
    assert log.start_offset("t", 0) == 90  # never the active segment


def test_retention_never_passes_the_lowest_committed_offset(make_log: LogFactory) -> None:
    log = make_log(Retention(max_bytes=0))
    log.create_topic("t", 1)
    fill(log, 10)
    log.commit("slow", "t", 0, 55)
    log.commit("fast", "t", 0, 100)
    log.apply_retention()
    assert log.start_offset("t", 0) == 50  # the segment holding 55 stays
    assert log.read("t", 0, 55, 1)[0].payload == payload(55)
    log.commit("slow", "t", 0, 100)
    log.apply_retention()
    assert log.start_offset("t", 0) == 90


def test_reading_below_start_offset_is_out_of_range(make_log: LogFactory) -> None:
    log = make_log(Retention(max_bytes=1000))
    log.create_topic("t", 1)
    fill(log, 4)
    log.apply_retention()
    start = log.start_offset("t", 0)
    assert start == 30
    with pytest.raises(OffsetOutOfRangeError, match="oldest readable offset is 30"):
        log.read("t", 0, start - 1, 5)
    assert log.read("t", 0, start, 1)[0].offset == start


def test_without_retention_nothing_is_dropped(log: Log) -> None:
    log.append("events", 0, payloads(0, 50))
    log.apply_retention()
    assert log.start_offset("events", 0) == 0


# -- concurrency and lifecycle -----------------------------------------------


def test_concurrent_appends_lose_nothing_and_keep_order(log: Log) -> None:
    threads, batches, per_batch = 4, 50, 7

    def writer(tid: int) -> None:
        for b in range(batches):
            batch = [f"{tid}:{b * per_batch + i}".encode() for i in range(per_batch)]
            log.append("events", tid % 2, batch)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seen: dict[int, list[int]] = {t: [] for t in range(threads)}
    for partition in (0, 1):
        records = read_all(log, "events", partition)
        assert [r.offset for r in records] == list(range(len(records)))
        for r in records:
            tid, seq = r.payload.decode().split(":")
            assert int(tid) % 2 == partition
            seen[int(tid)].append(int(seq))
    for t in range(threads):
        assert seen[t] == list(range(batches * per_batch))


def test_closed_log_refuses_work(make_log: LogFactory) -> None:
    log = make_log()
    log.create_topic("t", 1)
    log.close()
    log.close()  # idempotent
    with pytest.raises(LogError, match="closed"):
        log.append("t", 0, [b"x"])
