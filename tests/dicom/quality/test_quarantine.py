"""The quarantine store: original bytes and reasons kept durably; release and discard."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamgale.dicom.quality import (
    QuarantineError,
    QuarantineSource,
    QuarantineStage,
    QuarantineStatus,
    QuarantineStore,
)

from .helpers import encode, synthetic_ct


class Clock:
    """Wall-clock seconds that tests move by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[QuarantineStore]:
    opened = QuarantineStore(tmp_path / "quarantine", clock=clock)
    yield opened
    opened.close()


def _put(store: QuarantineStore, data: bytes = b"bad bytes", **kwargs: object) -> str:
    arguments: dict[str, object] = {
        "reason": "missing required attribute Modality (0008,0060)",
        "stage": "validation",
        "source": "dimse",
        **kwargs,
    }
    return store.put(data, **arguments).id  # type: ignore[arg-type]


def test_put_keeps_the_original_bytes_and_the_reason(store: QuarantineStore, clock: Clock) -> None:
    ds = synthetic_ct()
    data = encode(ds)

    entry = store.put(
        data,
        reason="pixel data cannot be decoded: boom; transfer syntax JPEG Baseline (Process 1)",
        stage=QuarantineStage.DECODE,
        source="stow",
        sop_instance_uid=ds.SOPInstanceUID,
        study_instance_uid=ds.StudyInstanceUID,
    )

    assert entry.status is QuarantineStatus.QUARANTINED
    assert (entry.stage, entry.source) == (QuarantineStage.DECODE, QuarantineSource.STOW)
    assert entry.size == len(data)
    assert entry.sha256 == hashlib.sha256(data).hexdigest()
    assert entry.quarantined_at == clock.now
    assert entry.released_at is None
    assert store.get(entry.id) == entry
    assert store.read_bytes(entry.id) == data  # byte for byte, preamble included


def test_files_are_named_by_a_generated_id_never_by_dicom_values(store: QuarantineStore) -> None:
    ds = synthetic_ct()
    entry_id = _put(
        store,
        encode(ds),
        sop_instance_uid=ds.SOPInstanceUID,
        study_instance_uid="../../etc/passwd",  # a hostile value must not become a path
    )

    files = [p for p in store.directory.rglob("*") if p.is_file() and "objects" in p.parts]
    assert [p.name for p in files] == [f"{entry_id}.dcm"]
    assert all(ds.SOPInstanceUID not in str(p) and "passwd" not in str(p) for p in files)
    assert len(entry_id) == 16 and int(entry_id, 16) >= 0


def test_uids_are_optional(store: QuarantineStore) -> None:
    entry = store.get(_put(store, b"not dicom", sop_instance_uid="", study_instance_uid=None))
    assert entry.sop_instance_uid is None and entry.study_instance_uid is None


def test_list_is_oldest_first_and_filters(store: QuarantineStore, clock: Clock) -> None:
    first = _put(store, stage="validation")
    clock.now += 10
    second = _put(store, stage="inference", source="folder")
    clock.now += 10
    third = _put(store, stage="validation")
    store.request_release([third])

    assert [e.id for e in store.list()] == [first, second, third]
    assert [e.id for e in store.list(stage="validation")] == [first, third]
    assert [e.id for e in store.list(status="quarantined")] == [first, second]
    assert [e.id for e in store.list(QuarantineStatus.RELEASE_REQUESTED, "validation")] == [third]
    assert [e.id for e in store.list(limit=2)] == [first, second]
    assert [e.quarantined_at for e in store.list()] == [clock.now - 20, clock.now - 10, clock.now]


def test_unknown_ids_and_values_are_clear_errors(store: QuarantineStore) -> None:
    with pytest.raises(QuarantineError) as caught:
        store.get("0123456789abcdef")
    assert str(caught.value) == (
        "no quarantined input with id '0123456789abcdef'; "
        "run 'streamgale quarantine list' to see the ids"
    )
    with pytest.raises(QuarantineError, match="unknown QuarantineStage 'parsing'; expected one of"):
        _put(store, stage="parsing")
    with pytest.raises(QuarantineError, match="unknown QuarantineStatus 'done'"):
        store.list(status="done")
    with pytest.raises(QuarantineError, match="needs a reason"):
        _put(store, reason="  ")


def test_release_is_requested_then_taken_then_marked(store: QuarantineStore, clock: Clock) -> None:
    a, b, c = (_put(store, f"input {n}".encode()) for n in range(3))

    assert store.request_release([a, c]) == 2
    assert store.request_release([a]) == 0  # already marked: left as it is
    assert [e.id for e in store.take_release_requests()] == [a, c]
    assert store.take_release_requests() == store.take_release_requests()  # taking marks nothing

    clock.now += 5
    assert store.mark_released([a, c]) == 2
    released = store.get(a)
    assert released.status is QuarantineStatus.RELEASED
    assert released.released_at == clock.now
    assert store.take_release_requests() == []
    assert store.read_bytes(a) == b"input 0"  # kept: a re-ingest that fails again is a new entry
    assert store.request_release([a]) == 0  # released entries are not released twice
    assert store.get(b).status is QuarantineStatus.QUARANTINED


def test_an_unknown_id_marks_nothing(store: QuarantineStore) -> None:
    known = _put(store)
    with pytest.raises(QuarantineError, match="no quarantined input with id 'missing'"):
        store.request_release([known, "missing"])
    assert store.get(known).status is QuarantineStatus.QUARANTINED
    with pytest.raises(QuarantineError):
        store.discard([known, "missing"])
    assert store.read_bytes(known) == b"bad bytes"


def test_discard_deletes_the_bytes_and_keeps_the_row(store: QuarantineStore) -> None:
    keep, drop = _put(store, b"keep"), _put(store, b"drop")
    path = next(store.directory.rglob(f"{drop}.dcm"))

    assert store.discard([drop]) == 1

    assert not path.exists()
    entry = store.get(drop)
    assert entry.status is QuarantineStatus.DISCARDED
    assert (entry.size, entry.reason) == (4, "missing required attribute Modality (0008,0060)")
    with pytest.raises(QuarantineError, match=f"quarantined input {drop} was discarded"):
        store.read_bytes(drop)
    assert store.discard([drop]) == 0
    assert store.request_release([drop]) == 0  # nothing left to release
    assert store.read_bytes(keep) == b"keep"


def test_counts_has_every_status(store: QuarantineStore) -> None:
    assert store.counts() == dict.fromkeys(QuarantineStatus, 0)
    ids = [_put(store) for _ in range(4)]
    store.request_release(ids[:2])
    store.mark_released(ids[:1])
    store.discard(ids[3:])
    assert store.counts() == {
        "quarantined": 1,
        "release_requested": 1,
        "released": 1,
        "discarded": 1,
    }


def test_everything_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    directory = tmp_path / "q"
    first = QuarantineStore(directory, clock=clock)
    kept = first.put(b"\0" * 128 + b"DICM...", reason="r1", stage="deid", source="folder")
    marked = first.put(b"two", reason="r2", stage="delivery", source="api")
    first.request_release([marked.id])
    first.close()

    again = QuarantineStore(directory, clock=clock)
    try:
        assert again.list() == [kept, again.get(marked.id)]
        assert again.get(marked.id).status is QuarantineStatus.RELEASE_REQUESTED
        assert again.read_bytes(kept.id) == b"\0" * 128 + b"DICM..."
    finally:
        again.close()


def test_a_put_that_returned_survives_kill_9(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from streamgale.dicom.quality.quarantine import QuarantineStore
        store = QuarantineStore(Path({str(directory)!r}))
        entry = store.put(b"acknowledged", reason="r", stage="validation", source="dimse")
        print(entry.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no cleanup
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr

    store = QuarantineStore(directory)
    try:
        assert store.read_bytes(done.stdout.strip()) == b"acknowledged"
    finally:
        store.close()


def test_a_second_process_sees_and_marks_while_the_first_holds_it_open(
    store: QuarantineStore,
) -> None:
    entry_id = _put(store)
    cli_side = QuarantineStore(store.directory)  # what the CLI does while the pipeline runs
    try:
        assert cli_side.request_release([entry_id]) == 1
    finally:
        cli_side.close()
    assert [e.id for e in store.take_release_requests()] == [entry_id]


def test_concurrent_puts_from_threads(store: QuarantineStore) -> None:
    def worker(n: int) -> None:
        for i in range(20):
            _put(store, f"{n}-{i}".encode(), source="dimse")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    entries = store.list(limit=1000)
    assert len(entries) == 120 == len({e.id for e in entries})
    assert sorted(store.read_bytes(e.id) for e in entries) == sorted(
        f"{n}-{i}".encode() for n in range(6) for i in range(20)
    )


def test_a_corrupt_index_is_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    directory.mkdir()
    (directory / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(QuarantineError, match=r"cannot open quarantine index .*move the directory"):
        QuarantineStore(directory)


def test_the_index_is_in_wal_mode(store: QuarantineStore) -> None:
    db = sqlite3.connect(store.directory / "index.sqlite")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_to_json_round_trips_through_json(store: QuarantineStore) -> None:
    entry = store.get(_put(store, sop_instance_uid="1.2.3"))
    document = json.loads(json.dumps(entry.to_json()))
    assert document["id"] == entry.id
    assert document["status"] == "quarantined" and document["stage"] == "validation"
    assert document["sop_instance_uid"] == "1.2.3"


def test_an_id_collision_never_overwrites(
    store: QuarantineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter(["aa" * 8, "aa" * 8, "bb" * 8])
    monkeypatch.setattr(
        "streamgale.dicom.quality.quarantine.secrets.token_hex", lambda n: next(ids)
    )
    first = _put(store, b"first")
    second = _put(store, b"second")
    assert (first, second) == ("aa" * 8, "bb" * 8)
    assert store.read_bytes(first) == b"first"
    assert store.read_bytes(second) == b"second"
