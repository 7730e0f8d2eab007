"""SegmentLog specifics: files on disk, recovery, corruption, fsync and crashes."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import streamgale
from streamgale.errors import ConfigError, CorruptLogError, LogError, OffsetOutOfRangeError
from streamgale.log import FsyncPolicy, LogRecord, Retention, SegmentLog

from .helpers import SEGMENT_BYTES, payload, payloads

FRAME = 100  # bytes per record frame with the helpers' payloads


def segment_files(root: Path, topic: str = "t", partition: int = 0) -> list[Path]:
    return sorted((root / topic / str(partition)).glob("*.log"))


def read_all(log: SegmentLog, topic: str = "t", partition: int = 0) -> list[LogRecord]:
    out: list[LogRecord] = []
    while batch := log.read(topic, partition, log.start_offset(topic, partition) + len(out), 64):
        out.extend(batch)
    return out


def flip_byte(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "log"


def write_records(root: Path, count: int, **options: object) -> None:
    """Append ``count`` helper records to t/0 in batches of ten, then close."""
    with SegmentLog(root, **options) as log:  # type: ignore[arg-type]
        log.create_topic("t", 1)
        for start in range(0, count, 10):
            log.append("t", 0, payloads(start, min(10, count - start)))


# -- layout and recovery -----------------------------------------------------


def test_reopen_recovers_topics_offsets_and_commits(root: Path) -> None:
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES) as log:
        log.create_topic("a", 3)
        log.create_topic("b", 1)
        log.append("a", 0, payloads(0, 25))
        log.append("a", 2, [b"two"])
        log.commit("g", "a", 0, 20)
        log.commit("g", "a", 2, 1)
    assert json.loads((root / "a" / "meta.json").read_text()) == {"partitions": 3}
    assert json.loads((root / "a" / "offsets" / "g.json").read_text())["offsets"] == {
        "0": 20,
        "2": 1,
    }
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES) as log:
        assert (log.partitions("a"), log.partitions("b")) == (3, 1)
        assert [log.end_offset("a", p) for p in range(3)] == [25, 0, 1]
        assert log.committed("g", "a", 0) == 20
        assert log.committed("g", "a", 2) == 1
        assert [r.payload for r in read_all(log, "a", 0)] == payloads(0, 25)
        assert log.append("a", 0, [b"next"]) == 25
        assert log.read("a", 0, 24, 5)[1].payload == b"next"


def test_segments_roll_at_segment_bytes(root: Path) -> None:
    write_records(root, 95, segment_bytes=SEGMENT_BYTES)
    files = segment_files(root)
    assert [f.name for f in files] == [f"{base:020d}.log" for base in range(0, 95, 10)]
    assert all(f.stat().st_size == SEGMENT_BYTES for f in files[:-1])
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES) as log:
        assert [r.payload for r in read_all(log)] == payloads(0, 95)
        for offset in (57, 3, 90, 10, 89):
            assert log.read("t", 0, offset, 1)[0].payload == payload(offset)


def test_a_batch_bigger_than_a_segment_stays_whole(root: Path) -> None:
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES) as log:
        log.create_topic("t", 1)
        log.append("t", 0, [b"small"])
        log.append("t", 0, payloads(1, 25))
        log.append("t", 0, [b"after"])
        assert [f.stat().st_size for f in segment_files(root)] == [29, 25 * FRAME, 29]
        assert log.read("t", 0, 26, 1)[0].payload == b"after"


def test_large_payload_round_trip(root: Path) -> None:
    big = random.Random(1).randbytes(10_000_000)
    with SegmentLog(root) as log:
        log.create_topic("t", 1)
        log.append("t", 0, [b"before", big, b"after"])
        assert [r.payload for r in log.read("t", 0, 0, 3)] == [b"before", big, b"after"]
    with SegmentLog(root) as log:
        assert log.read("t", 0, 1, 1)[0].payload == big


def test_a_second_open_of_the_same_directory_is_refused(root: Path) -> None:
    with SegmentLog(root), pytest.raises(LogError, match="already open"):
        SegmentLog(root)
    SegmentLog(root).close()  # the lock went with the first log


def test_bad_options_are_config_errors(root: Path) -> None:
    with pytest.raises(ConfigError, match="segment_bytes"):
        SegmentLog(root, segment_bytes=0)
    with pytest.raises(ConfigError, match="fsync_interval_ms"):
        SegmentLog(root, fsync_interval_ms=-1)
    with pytest.raises(ConfigError, match=r"retention\.max_bytes"):
        SegmentLog(root, retention=Retention(max_bytes=-5))


def test_retention_deletes_files_and_survives_reopen(root: Path) -> None:
    write_records(root, 50, segment_bytes=SEGMENT_BYTES)
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES, retention=Retention(max_bytes=2000)) as log:
        log.apply_retention()
        assert log.start_offset("t", 0) == 30
    assert [f.name[:20] for f in segment_files(root)] == [f"{b:020d}" for b in (30, 40)]
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES) as log:
        assert log.start_offset("t", 0) == 30
        with pytest.raises(OffsetOutOfRangeError):
            log.read("t", 0, 29, 1)
        assert [r.payload for r in read_all(log)] == payloads(30, 20)


def test_retention_under_a_reading_consumer(root: Path) -> None:
    retention = Retention(max_bytes=2000)
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES, retention=retention) as log:
        log.create_topic("t", 1)
        log.append("t", 0, payloads(0, 10))
        assert len(log.read("t", 0, 0, 4)) == 4  # the reader's cursor sits in segment 0
        for start in range(10, 50, 10):
            log.append("t", 0, payloads(start, 10))
        log.apply_retention()
        assert log.start_offset("t", 0) == 30
        with pytest.raises(OffsetOutOfRangeError):
            log.read("t", 0, 4, 4)
        assert [r.payload for r in log.read("t", 0, 30, 100)] == payloads(30, 20)


def test_a_commit_interrupted_before_its_rename_is_ignored(root: Path) -> None:
    with SegmentLog(root) as log:
        log.create_topic("t", 1)
        log.append("t", 0, [b"a", b"b"])
        log.commit("g", "t", 0, 1)
    (root / "t" / "offsets" / "g.json.tmp").write_text("{half a docu")
    with SegmentLog(root) as log:
        assert log.committed("g", "t", 0) == 1
    assert not (root / "t" / "offsets" / "g.json.tmp").exists()


# -- torn tails and corruption -----------------------------------------------


@pytest.mark.parametrize("cut", [10, 30, FRAME - 1])  # inside the header, the payload, the end
def test_torn_tail_is_truncated_with_a_warning(
    root: Path, caplog: pytest.LogCaptureFixture, cut: int
) -> None:
    write_records(root, 10)
    last = segment_files(root)[-1]
    os.truncate(last, 9 * FRAME + cut)
    with caplog.at_level(logging.WARNING, logger="streamgale.log"), SegmentLog(root) as log:
        assert log.end_offset("t", 0) == 9
        assert log.append("t", 0, [b"again"]) == 9
        assert [r.payload for r in read_all(log)] == [*payloads(0, 9), b"again"]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert str(last) in warning.getMessage()
    assert "offset 9" in warning.getMessage()
    assert f"dropped {cut} bytes" in warning.getMessage()
    assert last.stat().st_size == 9 * FRAME + 24 + len(b"again")


def test_garbage_tail_is_truncated_with_a_warning(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_records(root, 10)
    last = segment_files(root)[-1]
    with last.open("ab") as f:
        f.write(random.Random(7).randbytes(333))
    with caplog.at_level(logging.WARNING, logger="streamgale.log"), SegmentLog(root) as log:
        assert log.end_offset("t", 0) == 10
        assert log.append("t", 0, [b"next"]) == 10
        assert log.read("t", 0, 10, 1)[0].payload == b"next"
    assert "dropped 333 bytes" in caplog.text


def test_empty_file_after_crash_is_fine(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_records(root, 10)
    os.truncate(segment_files(root)[-1], 0)
    with caplog.at_level(logging.WARNING, logger="streamgale.log"), SegmentLog(root) as log:
        assert log.end_offset("t", 0) == 0
        assert log.read("t", 0, 0, 5) == []
    assert caplog.records == []


def test_flipped_byte_in_a_closed_segment_raises_corrupt_log_error(root: Path) -> None:
    write_records(root, 30, segment_bytes=SEGMENT_BYTES)
    middle = segment_files(root)[1]
    flip_byte(middle, 5 * FRAME + 40)  # payload of record 15
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES) as log:
        assert [r.payload for r in log.read("t", 0, 10, 5)] == payloads(10, 5)
        with pytest.raises(CorruptLogError) as raised:
            log.read("t", 0, 10, 10)
        message = str(raised.value)
        assert "t/0" in message
        assert "offset 15" in message
        assert str(middle) in message
        with pytest.raises(CorruptLogError):
            log.read("t", 0, 15, 1)
        assert log.read("t", 0, 16, 1)[0].payload == payload(16)


def test_flipped_byte_while_open_is_caught_on_read(root: Path) -> None:
    with SegmentLog(root, segment_bytes=SEGMENT_BYTES) as log:
        log.create_topic("t", 1)
        for start in range(0, 30, 10):
            log.append("t", 0, payloads(start, 10))
        flip_byte(segment_files(root)[0], 3 * FRAME + 8)  # the offset field of record 3
        with pytest.raises(CorruptLogError, match="offset 3"):
            log.read("t", 0, 0, 10)


def test_damage_before_intact_records_of_the_last_segment_is_not_truncated(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_records(root, 10)
    last = segment_files(root)[-1]
    flip_byte(last, 4 * FRAME + 50)
    with caplog.at_level(logging.WARNING, logger="streamgale.log"), SegmentLog(root) as log:
        assert log.end_offset("t", 0) == 10
        with pytest.raises(CorruptLogError, match="offset 4"):
            log.read("t", 0, 0, 10)
        assert [r.payload for r in log.read("t", 0, 5, 10)] == payloads(5, 5)
    assert last.stat().st_size == 10 * FRAME
    assert "offset 4" in caplog.text
    assert "CorruptLogError" in caplog.text


# -- concurrency ---------------------------------------------------------------


def test_a_reader_keeps_up_with_concurrent_appenders(root: Path) -> None:
    writers, batches = 3, 200
    with SegmentLog(root, segment_bytes=16 * 1024) as log:
        log.create_topic("t", 1)

        def write(tid: int) -> None:
            for b in range(batches):
                log.append("t", 0, [f"{tid}:{b}:{i}".encode() * (1 + b % 5) for i in range(9)])

        threads = [threading.Thread(target=write, args=(t,)) for t in range(writers)]
        for t in threads:
            t.start()
        records: list[LogRecord] = []
        deadline = time.monotonic() + 60
        while len(records) < writers * batches * 9 and time.monotonic() < deadline:
            records.extend(log.read("t", 0, len(records), 100))
        for t in threads:
            t.join()
    assert [r.offset for r in records] == list(range(writers * batches * 9))
    last_batch = dict.fromkeys(range(writers), -1)
    for r in records:
        tid, batch, _ = r.payload.split(b":", 2)
        assert int(batch) >= last_batch[int(tid)]
        last_batch[int(tid)] = int(batch)
    assert last_batch == dict.fromkeys(range(writers), batches - 1)


# -- fsync policies -------------------------------------------------------------


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every os.fsync call from now on, by file descriptor."""
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def open_topic(root: Path, policy: FsyncPolicy, interval_ms: float = 5.0) -> SegmentLog:
    log = SegmentLog(root, fsync=policy, fsync_interval_ms=interval_ms)
    log.create_topic("t", 1)
    return log


def test_fsync_always_fsyncs_every_append(root: Path, fsyncs: list[int]) -> None:
    with open_topic(root, FsyncPolicy.ALWAYS) as log:
        fsyncs.clear()
        for n in range(5):
            log.append("t", 0, [payload(n)])
            assert len(fsyncs) == n + 1


def test_fsync_never_leaves_it_to_sync(root: Path, fsyncs: list[int]) -> None:
    with open_topic(root, FsyncPolicy.NEVER) as log:
        fsyncs.clear()
        for n in range(5):
            log.append("t", 0, [payload(n)])
        assert fsyncs == []
        log.sync()
        assert len(fsyncs) == 1
        log.sync()  # nothing new to sync
        assert len(fsyncs) == 1


def test_fsync_interval_syncs_in_the_background(root: Path, fsyncs: list[int]) -> None:
    with open_topic(root, FsyncPolicy.INTERVAL, interval_ms=20) as log:
        fsyncs.clear()
        log.append("t", 0, [b"a"])
        deadline = time.monotonic() + 10
        while not fsyncs and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(fsyncs) == 1


def test_fsync_interval_does_not_fsync_inside_append(root: Path, fsyncs: list[int]) -> None:
    log = open_topic(root, FsyncPolicy.INTERVAL, interval_ms=60_000)
    fsyncs.clear()
    log.append("t", 0, [b"a"])
    log.append("t", 0, [b"b"])
    assert fsyncs == []
    log.close()  # close syncs what the interval has not yet
    assert len(fsyncs) == 1


# -- crash ---------------------------------------------------------------------

CHILD = """
import sys
from pathlib import Path
from streamgale.log import FsyncPolicy, SegmentLog

log = SegmentLog(Path(sys.argv[1]), fsync=FsyncPolicy.ALWAYS, segment_bytes=64 * 1024)
log.create_topic("t", 1)
n = log.end_offset("t", 0)
while True:
    batch = [b"%d:" % i + bytes([i % 251]) * (i % 700) for i in range(n, n + 20)]
    first = log.append("t", 0, batch)
    print(first, len(batch), flush=True)
    n += len(batch)
"""


def expected_payload(i: int) -> bytes:
    return b"%d:" % i + bytes([i % 251]) * (i % 700)


@pytest.mark.crash
def test_acknowledged_records_survive_sigkill(root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(streamgale.__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, env=env
    )
    assert child.stdout is not None
    acked: list[tuple[int, int]] = []
    deadline = time.monotonic() + 60
    while len(acked) < 150 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        first, count = map(int, line.split())
        acked.append((first, count))
    os.kill(child.pid, signal.SIGKILL)
    # Lines printed before the kill were acknowledged too; a cut last line was not.
    for line in child.stdout.read().splitlines(keepends=True):
        if line.endswith(b"\n"):
            first, count = map(int, line.split())
            acked.append((first, count))
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= 150, "the child did not acknowledge enough appends"
    with SegmentLog(root) as log:
        end = acked[-1][0] + acked[-1][1]
        assert log.end_offset("t", 0) >= end
        records: list[LogRecord] = []
        while len(records) < end:
            records.extend(log.read("t", 0, len(records), 500))
    assert [r.offset for r in records[:end]] == list(range(end))
    for r in records[:end]:
        assert r.payload == expected_payload(r.offset)


def test_concurrent_sync_waits_for_the_fsync_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a second sync() must not return while the first one's fsync runs."""
    import threading
    import time

    from streamgale.log import partition as partition_module

    finished: list[float] = []
    real = partition_module._fsync_and_close

    def slow_fsync(fd: int, path: Path) -> None:
        time.sleep(0.3)
        real(fd, path)
        finished.append(time.monotonic())

    log = SegmentLog(tmp_path, fsync=FsyncPolicy.NEVER)
    log.create_topic("t", 1)
    log.append("t", 0, [b"acknowledged only once durable"])
    monkeypatch.setattr(partition_module, "_fsync_and_close", slow_fsync)
    first = threading.Thread(target=log.sync)
    first.start()
    time.sleep(0.05)  # the first fsync is now in flight
    log.sync()
    returned = time.monotonic()
    first.join()
    assert finished and returned >= finished[0]
    log.close()
