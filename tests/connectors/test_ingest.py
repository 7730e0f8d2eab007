"""IngestLog and IngestPartition against every log backend: numbering, routing,
backpressure, durability before visibility, and resume."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamgale.connectors.ingest import (
    TOPIC,
    IngestLog,
    IngestPartition,
    decode_payload,
    encode_payload,
)
from streamgale.connectors.ingest_body import ParsedBody, parse_body
from streamgale.errors import BackpressureError, CorruptLogError, IngestError
from streamgale.log.base import FsyncPolicy, Log
from streamgale.log.memory import MemoryLog
from streamgale.log.segment import SegmentLog

LogFactory = Callable[[], Log]


@pytest.fixture(params=["memory", "segment"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogFactory]:
    opened: list[Log] = []

    def make() -> Log:
        if request.param == "memory":
            log: Log = MemoryLog()
        else:
            log = SegmentLog(tmp_path / "log", fsync=FsyncPolicy.NEVER)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def body(*records: dict[str, Any]) -> ParsedBody:
    return parse_body("application/json", json.dumps(list(records)).encode())


def read_all(part: IngestPartition) -> list[Any]:
    out: list[Any] = []
    while batch := part.next_batch():
        out.extend(batch)
    return out


def test_records_are_numbered_per_partition_and_read_back(make_log: LogFactory) -> None:
    inbox = IngestLog(make_log(), partitions=1, group="g")
    assert inbox.accept(body({"n": 1}, {"n": 2})).as_json() == {
        "accepted": 2,
        "partition": 0,
        "offsets": [0, 1],
    }
    assert inbox.accept(body({"n": 3})).as_json()["offsets"] == [2, 2]
    assert inbox.accept(body()).as_json() == {"accepted": 0, "offsets": None}
    part = IngestPartition(inbox, 0, None, batch_size=10)
    assert read_all(part) == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert part.snapshot() == 2  # log offset: one stored record per request


def test_round_robin_over_partitions(make_log: LogFactory) -> None:
    inbox = IngestLog(make_log(), partitions=3, group="g")
    spans = [inbox.accept(body({"n": n})).as_json()["partition"] for n in range(4)]
    assert spans == [0, 1, 2, 0]
    parts = [IngestPartition(inbox, p, None) for p in range(3)]
    assert [read_all(p) for p in parts] == [[{"n": 0}, {"n": 3}], [{"n": 1}], [{"n": 2}]]


def test_key_routing_keeps_a_key_in_one_partition(make_log: LogFactory) -> None:
    inbox = IngestLog(make_log(), partitions=4, group="g", key="user")
    records = [{"user": u, "i": i} for i, u in enumerate(["a", "b", "c", "a", "d", "b"])]
    answer = inbox.accept(body(*records)).as_json()
    assert answer["accepted"] == 6 and "partitions" in answer
    for p in range(4):
        got = read_all(IngestPartition(inbox, p, None))
        assert all(inbox.partition_of(r["user"]) == p for r in got)
        assert [r["i"] for r in got] == sorted(r["i"] for r in got)  # order kept per key
    with pytest.raises(IngestError, match="record 1 has no field 'user'") as caught:
        inbox.accept(body({"user": "a"}, {"other": 1}))
    assert caught.value.status == 400
    assert inbox.backlog() == 6  # the refused request stored nothing


def test_backpressure_until_the_pipeline_commits(make_log: LogFactory) -> None:
    inbox = IngestLog(make_log(), partitions=1, group="g", max_backlog_records=3)
    inbox.accept(body({"n": 1}, {"n": 2}))
    inbox.accept(body({"n": 3}, {"n": 4}))  # accepted: the backlog was 2 < 3
    with pytest.raises(BackpressureError, match="4 records behind") as caught:
        inbox.accept(body({"n": 5}))
    assert caught.value.status == 503 and caught.value.retry_after == 1.0
    part = IngestPartition(inbox, 0, None)
    part.next_batch()
    part.snapshot()
    assert inbox.backlog() == 4  # read is not enough: the checkpoint must be durable
    part.on_commit()
    assert inbox.backlog() == 0
    inbox.accept(body({"n": 5}))


def test_on_commit_commits_the_last_snapshot_not_the_read_position(
    make_log: LogFactory,
) -> None:
    log = make_log()
    inbox = IngestLog(log, partitions=1, group="g")
    inbox.accept(body({"n": 1}))
    part = IngestPartition(inbox, 0, None)
    part.next_batch()
    assert part.snapshot() == 1
    inbox.accept(body({"n": 2}))
    part.next_batch()  # position 2, but the checkpoint holds 1
    part.on_commit()
    assert log.committed("g", TOPIC, 0) == 1


def test_readers_see_records_only_once_durable() -> None:
    release = threading.Event()
    syncing = threading.Event()

    class SlowSyncLog(MemoryLog):
        blocking = False

        def sync(self) -> None:
            if self.blocking:
                syncing.set()
                release.wait(5)

    log = SlowSyncLog()
    wake = threading.Event()
    inbox = IngestLog(log, partitions=1, group="g", group_commit=True)
    inbox.set_wake(0, wake)
    part = IngestPartition(inbox, 0, None)
    log.blocking = True
    sender = threading.Thread(target=inbox.accept, args=(body({"n": 1}),))
    sender.start()
    assert syncing.wait(5)
    assert log.end_offset(TOPIC, 0) == 1  # appended...
    assert part.next_batch() == []  # ...but not yet durable, so not readable
    assert not wake.is_set()
    release.set()
    sender.join(5)
    assert wake.is_set()
    assert part.next_batch() == [{"n": 1}]


def test_concurrent_requests_share_fsyncs_and_all_arrive(tmp_path: Path) -> None:
    syncs = 0

    class CountingLog(SegmentLog):
        def sync(self) -> None:
            nonlocal syncs
            syncs += 1
            super().sync()

    log = CountingLog(tmp_path / "log", fsync=FsyncPolicy.NEVER)
    inbox = IngestLog(log, partitions=2, group="g", group_commit=True)
    answers: list[dict[str, Any]] = []

    def send(worker: int) -> None:
        for i in range(25):
            answers.append(inbox.accept(body({"w": worker, "i": i})).as_json())

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    got = [r for p in range(2) for r in read_all(IngestPartition(inbox, p, None))]
    assert sorted((r["w"], r["i"]) for r in got) == [(w, i) for w in range(8) for i in range(25)]
    assert len(answers) == 200 and 1 <= syncs <= 200
    inbox.close()


def test_restart_resumes_from_committed_offsets_and_recovers_the_backlog(
    tmp_path: Path,
) -> None:
    log = SegmentLog(tmp_path / "log")
    inbox = IngestLog(log, partitions=1, group="g", max_backlog_records=100)
    for n in range(5):
        inbox.accept(body({"n": n}, {"n": n + 0.5}))
    part = IngestPartition(inbox, 0, None, batch_size=3)
    part.next_batch()  # requests 0 and 1 (4 records, the batch size is a soft limit)
    state = part.snapshot()
    part.on_commit()
    inbox.close()

    again = IngestLog(SegmentLog(tmp_path / "log"), partitions=1, group="g")
    assert again.backlog() == 6
    assert again.accept(body({"n": 9})).as_json()["offsets"] == [10, 10]
    fresh = read_all(IngestPartition(again, 0, None))  # no snapshot: from the commit
    from_state = read_all(IngestPartition(again, 0, state))
    expected = [{"n": n} for n in (2, 2.5, 3, 3.5, 4, 4.5, 9)]
    assert fresh == from_state == expected
    again.close()


def test_closed_inbox_refuses_with_503(make_log: LogFactory) -> None:
    inbox = IngestLog(make_log(), partitions=1, group="g")
    inbox.close()
    with pytest.raises(IngestError, match="shutting down") as caught:
        inbox.accept(body({"n": 1}))
    assert caught.value.status == 503


def test_payload_round_trip_and_corruption() -> None:
    payload = encode_payload(7, 2, b'[{"a":1},{"a":2}]')
    assert decode_payload(payload) == (7, [{"a": 1}, {"a": 2}])
    with pytest.raises(CorruptLogError, match="not b'SGI1'"):
        decode_payload(b"XXXX" + payload[4:])
    with pytest.raises(CorruptLogError, match="holds 2"):
        decode_payload(encode_payload(7, 3, b'[{"a":1},{"a":2}]'))
