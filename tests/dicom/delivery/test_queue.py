"""DeliveryQueue: durability, idempotence, ordering and backoff that survives restarts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from streamgale.dicom.delivery import DeliveryQueue, StowDestination
from streamgale.errors import ConfigError, DeliveryError
from streamgale.runtime.logic import ManualClock

DESTINATION = StowDestination("pacs", "http://127.0.0.1:9/dicomweb")


class Recorder:
    """A sender that fails while ``down`` and records what it delivered."""

    def __init__(self) -> None:
        self.down = False
        self.sent: list[list[bytes]] = []

    def __call__(self, instances: Sequence[bytes]) -> None:
        if self.down:
            raise DeliveryError("destination 'pacs' cannot be reached")
        self.sent.append(list(instances))


def open_queue(path: Path, clock: ManualClock, sender: Recorder, **kwargs: object) -> DeliveryQueue:
    return DeliveryQueue(path, DESTINATION, clock=clock, sender=sender, **kwargs)  # type: ignore[arg-type]


def test_delivers_oldest_first_with_payloads_intact(tmp_path: Path) -> None:
    sender = Recorder()
    with open_queue(tmp_path, ManualClock(0), sender) as queue:
        for n in range(3):
            assert queue.enqueue([f"SR{n}".encode(), bytes(1000) + bytes([n])], key=f"r{n}")
        assert queue.pending_keys() == ["r0", "r1", "r2"]
        while queue.run_once():
            pass
        assert sender.sent == [[f"SR{n}".encode(), bytes(1000) + bytes([n])] for n in range(3)]
        assert queue.state() == {
            "destination": "pacs",
            "pending": 0,
            "failed": 0,
            "delivered": 3,
            "attempts": 0,
            "next_attempt_in": None,
            "last_error": None,
        }


def test_enqueue_is_idempotent_on_key_even_after_delivery_and_restart(tmp_path: Path) -> None:
    sender, clock = Recorder(), ManualClock(0)
    with open_queue(tmp_path, clock, sender) as queue:
        assert queue.enqueue([b"a"], key="r1") is True
        assert queue.enqueue([b"other"], key="r1") is False
        queue.run_once()
        assert queue.enqueue([b"a"], key="r1") is False
    with open_queue(tmp_path, clock, sender) as queue:
        assert queue.enqueue([b"a"], key="r1") is False
        assert queue.backlog() == 0 and sender.sent == [[b"a"]]


def test_exponential_backoff_is_capped(tmp_path: Path) -> None:
    sender, clock = Recorder(), ManualClock(1000.0)
    sender.down = True
    with open_queue(tmp_path, clock, sender, backoff=1.0, max_backoff=10.0) as queue:
        queue.enqueue([b"a"], key="r1")
        delays = []
        for _ in range(6):
            assert queue.run_once() is True
            state = queue.state()
            delays.append(state["next_attempt_in"])
            assert queue.run_once() is False  # not due yet
            clock.advance(state["next_attempt_in"] or 0)
        assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
        assert queue.state()["attempts"] == 6
        assert "cannot be reached" in (queue.state()["last_error"] or "")


def test_backoff_survives_a_restart(tmp_path: Path) -> None:
    sender, clock = Recorder(), ManualClock(1000.0)
    sender.down = True
    with open_queue(tmp_path, clock, sender, backoff=2.0, max_backoff=60.0) as queue:
        queue.enqueue([b"a"], key="r1")
        queue.enqueue([b"b"], key="r2")
        for _ in range(3):
            clock.advance(60)
            queue.run_once()
        before = queue.state()
    assert before["attempts"] == 3 and before["next_attempt_in"] == 8.0
    clock.advance(5)
    with open_queue(tmp_path, clock, sender, backoff=2.0, max_backoff=60.0) as queue:
        after = queue.state()
        assert after["attempts"] == 3 and after["next_attempt_in"] == 3.0
        assert queue.pending_keys() == ["r1", "r2"]
        assert queue.run_once() is False  # the restart did not reset the backoff
        sender.down = False
        clock.advance(3)
        assert queue.run_once() and queue.run_once()
        assert sender.sent == [[b"a"], [b"b"]]


def test_a_clock_stepping_back_does_not_stall_the_queue(tmp_path: Path) -> None:
    sender, clock = Recorder(), ManualClock(10_000.0)
    sender.down = True
    with open_queue(tmp_path, clock, sender, backoff=1.0, max_backoff=30.0) as queue:
        queue.enqueue([b"a"], key="r1")
        queue.run_once()
        assert queue.run_once() is False  # backing off for 1 s
        clock.set(6_400.0)  # the wall clock steps back an hour
        assert queue.state()["next_attempt_in"] == 0.0
        sender.down = False
        assert queue.run_once() is True and sender.sent == [[b"a"]]


def test_max_attempts_sets_an_item_aside(tmp_path: Path) -> None:
    calls: list[bytes] = []

    def poison_first(instances: Sequence[bytes]) -> None:
        calls.append(instances[0])
        if instances[0] == b"poison":
            raise ValueError("a bug in a sender")  # not a DeliveryError: logged, still retried

    clock = ManualClock(0)
    queue = DeliveryQueue(
        tmp_path, DESTINATION, clock=clock, sender=poison_first, backoff=1, max_attempts=2
    )
    with queue:
        queue.enqueue([b"poison"], key="bad")
        queue.enqueue([b"fine"], key="good")
        queue.run_once()
        clock.advance(1)
        queue.run_once()  # second failure: set aside
        queue.run_once()
        assert calls == [b"poison", b"poison", b"fine"]
        state = queue.state()
        assert (state["failed"], state["delivered"], state["pending"]) == (1, 1, 0)
        assert queue.retry_failed() == 1
        assert queue.pending_keys() == ["bad"]
        assert queue.state()["last_error"] == "ValueError: a bug in a sender"


def test_worker_thread_delivers_and_wakes_on_an_injected_clock(tmp_path: Path) -> None:
    sender, clock = Recorder(), ManualClock(0)
    with open_queue(tmp_path, clock, sender, backoff=100.0, max_backoff=100.0) as queue:
        queue.start()
        queue.enqueue([b"a"], key="r1")
        assert queue.wait_idle(5)
        sender.down = True
        queue.enqueue([b"b"], key="r2")
        deadline_state = None
        for _ in range(100):
            deadline_state = queue.state()
            if deadline_state["attempts"]:
                break
            queue.wait_idle(0.02)
        assert deadline_state is not None and deadline_state["attempts"] == 1
        sender.down = False
        clock.advance(100)
        queue.wake()
        assert queue.wait_idle(5)
        assert sender.sent == [[b"a"], [b"b"]]


def test_one_process_per_directory(tmp_path: Path) -> None:
    with (
        open_queue(tmp_path, ManualClock(0), Recorder()),
        pytest.raises(DeliveryError, match="open in another process"),
    ):
        open_queue(tmp_path, ManualClock(0), Recorder())
    open_queue(tmp_path, ManualClock(0), Recorder()).close()  # released on close


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backoff"):
        open_queue(tmp_path, ManualClock(0), Recorder(), backoff=5.0, max_backoff=1.0)
    with open_queue(tmp_path, ManualClock(0), Recorder()) as queue:
        with pytest.raises(ValueError, match="non-empty key"):
            queue.enqueue([b"a"], key="")
        with pytest.raises(ValueError, match="no instances"):
            queue.enqueue([], key="r1")


CRASH = """
import os, sys
from pathlib import Path
from streamgale.dicom.delivery import DeliveryQueue, StowDestination

def crash_mid_send(instances):
    os._exit(9)  # like kill -9 while the peer is receiving

queue = DeliveryQueue(Path(sys.argv[1]), StowDestination("pacs", "http://127.0.0.1:9/x"),
                      sender=crash_mid_send)
queue.enqueue([b"first"], key="r1")
queue.enqueue([b"second"], key="r2")
print("enqueued", flush=True)  # the pipeline would acknowledge its input now
queue.run_once()
"""


def test_crash_mid_send_resends_on_restart(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASH), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 9 and done.stdout == "enqueued\n", done.stderr
    sender = Recorder()
    with DeliveryQueue(tmp_path, DESTINATION, sender=sender) as queue:
        assert queue.pending_keys() == ["r1", "r2"]  # nothing acknowledged was lost
        assert queue.state()["attempts"] == 0  # the crash left no record of the attempt
        while queue.run_once():
            pass
    assert sender.sent == [[b"first"], [b"second"]]
