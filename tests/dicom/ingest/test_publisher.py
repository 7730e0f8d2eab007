"""The write-behind publisher: in order, retried on failure, never silently dropped."""

from __future__ import annotations

import contextlib
import threading

import pytest

from streamgale.dicom.ingest.publisher import Publisher
from streamgale.errors import DicomError


def test_tasks_run_in_order_and_drain_waits_for_all() -> None:
    publisher = Publisher("test")
    done: list[int] = []
    gate = threading.Event()
    publisher.submit(gate.wait)
    for n in range(5):
        publisher.submit(lambda n=n: done.append(n))
    assert done == []
    gate.set()
    publisher.drain()
    assert done == [0, 1, 2, 3, 4]
    publisher.close()


def test_a_failing_task_is_retried_and_holds_the_later_ones_back() -> None:
    publisher = Publisher("test")
    healed = threading.Event()
    attempts: list[int] = []
    after: list[str] = []

    def flaky() -> None:
        attempts.append(1)
        if not healed.is_set():
            raise OSError("disk full")

    task = publisher.submit(flaky)
    later = publisher.submit(lambda: after.append("later"))
    with pytest.raises(DicomError, match="disk full"):
        publisher.wait(task)
    with pytest.raises(DicomError, match="being retried"):
        publisher.wait(later)  # held back by the failing one
    assert after == []
    healed.set()
    with contextlib.suppress(DicomError):  # an attempt begun before the cure may fail once more
        publisher.drain()
    publisher.drain()
    assert len(attempts) >= 2 and after == ["later"] and task.done and later.done
    publisher.close()


def test_closing_while_a_task_fails_abandons_the_queue_loudly() -> None:
    publisher = Publisher("test")

    def broken() -> None:
        raise OSError("gone")

    first = publisher.submit(broken)
    second = publisher.submit(lambda: None)
    with pytest.raises(DicomError):
        publisher.wait(first)
    publisher.close()
    assert not first.done and not second.done and second.error is not None
    with pytest.raises(DicomError, match="closed"):
        publisher.submit(lambda: None)
