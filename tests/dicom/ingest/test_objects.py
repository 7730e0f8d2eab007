"""ObjectFiles.write with a flush alongside: the caller's work overlaps the file's fsync."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from streamgale.dicom.ingest.objects import ObjectFiles


def test_alongside_runs_once_the_bytes_are_readable(tmp_path: Path) -> None:
    objects = ObjectFiles(tmp_path)
    data = b"DICM" + bytes(range(256)) * 64
    seen: list[bytes] = []
    sha = hashlib.sha256(data).hexdigest()
    _, path = objects.write(
        [data], sha, alongside=lambda: seen.append(objects.path_for(sha).read_bytes())
    )
    assert seen == [data] and path.read_bytes() == data
    objects.close()


def test_a_failing_alongside_keeps_the_file_and_raises(tmp_path: Path) -> None:
    objects = ObjectFiles(tmp_path)

    def fail() -> None:
        raise OSError("the log is down")

    with pytest.raises(OSError, match="the log is down"):
        objects.write([b"DICM bytes"], alongside=fail)
    path = objects.path_for(hashlib.sha256(b"DICM bytes").hexdigest())
    assert path.read_bytes() == b"DICM bytes"  # flushed: a retry finds it intact
    objects.close()


def test_a_failed_write_leaves_no_file_and_skips_alongside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamgale.dicom.ingest.objects as module

    def full(fd: int, chunks: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_write_all", full)
    objects = ObjectFiles(tmp_path)
    called: list[int] = []
    with pytest.raises(OSError, match="No space"):
        objects.write([b"DICM bytes"], alongside=lambda: called.append(1))
    assert called == []
    assert not objects.path_for(hashlib.sha256(b"DICM bytes").hexdigest()).exists()
    objects.close()
