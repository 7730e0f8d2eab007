"""Write-behind for ingest: announce durably stored instances after their acknowledgement.

Once an instance is flushed to the ingest journal, nothing a crash does can
lose it, so writing its content-addressed file, appending its event to the
log and indexing it need not delay the sender. :class:`Publisher` runs that
work on one thread, strictly in submission order (a completion signal queued
after an association's instances is published after them), while the
association already receives the next instance.

A task that fails (a full disk, say) stays at the head of the queue and is
retried with a growing pause, so later tasks never overtake it; callers that
wait see its error at once, and the instance stays in the journal, to be
published by a retry or, after a restart, by the journal's replay.

>>> publisher = Publisher("doctest")
>>> done = []
>>> publisher.wait(publisher.submit(lambda: done.append(1)))
>>> publisher.close()
>>> done
[1]
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from streamgale.errors import DicomError

__all__ = ["Publisher", "Task"]

logger = logging.getLogger("streamgale.dicom.ingest")

_FIRST_RETRY_S = 0.05
_LAST_RETRY_S = 5.0


class Task:
    """One unit of write-behind work: ``done`` once it succeeded, ``error`` once an attempt failed.

    A failed task is retried, so ``error`` may be set and ``done`` follow later.
    """

    __slots__ = ("done", "error", "failures_before", "run")

    def __init__(self, run: Callable[[], None], failures_before: int) -> None:
        self.run = run
        self.done = False
        self.error: BaseException | None = None
        self.failures_before = failures_before
        """The publisher's count of failed attempts when this task was queued."""


class Publisher:
    """Runs submitted callables one at a time, in order, on a daemon thread named ``name``."""

    def __init__(self, name: str) -> None:
        self._queue: deque[Task] = deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._failures = 0  # failed attempts so far, of any task
        self._last_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"sg-publish-{name}", daemon=True)
        self._thread.start()

    def submit(self, run: Callable[[], None]) -> Task:
        """Queue ``run``; return its task (see :meth:`wait`)."""
        with self._changed:
            if self._stopping:
                raise DicomError("the ingest publisher is closed; open the store again")
            task = Task(run, self._failures)
            self._queue.append(task)
            self._changed.notify_all()
        return task

    def wait(self, task: Task) -> None:
        """Return once ``task`` is done.

        Raises :class:`~streamgale.errors.DicomError` as soon as an attempt
        fails after ``task`` was queued (``task`` itself, or one ahead of it
        that holds it back); the failed task is retried all the same.
        """
        with self._changed:
            self._wait_for(task, task.failures_before)

    def drain(self) -> None:
        """Return once every task queued so far is done; raise if an attempt fails meanwhile."""
        with self._changed:
            if self._queue:
                self._wait_for(self._queue[-1], self._failures)

    def _wait_for(self, task: Task, failures: int) -> None:
        """Wait (lock held) for ``task``, raising once more than ``failures`` attempts failed."""
        while not task.done:
            if self._failures > failures and self._last_error is not None:
                raise _failed(self._last_error)
            self._changed.wait()

    def close(self) -> None:
        """Finish the queued tasks (a failing one gets one more try), then stop the thread."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()

    def _run(self) -> None:
        pause = _FIRST_RETRY_S
        while True:
            with self._changed:
                while not self._queue and not self._stopping:
                    self._changed.wait()
                if not self._queue:
                    return
                task = self._queue[0]
            try:
                task.run()
            except Exception as exc:
                logger.exception("announcing a stored instance failed; retrying")
                with self._changed:
                    task.error = self._last_error = exc
                    self._failures += 1
                    self._changed.notify_all()
                    if self._stopping:
                        self._abandon(exc)
                        return
                    deadline = time.monotonic() + pause
                    while not self._stopping and (left := deadline - time.monotonic()) > 0:
                        self._changed.wait(left)
                pause = min(pause * 2, _LAST_RETRY_S)
                continue
            pause = _FIRST_RETRY_S
            with self._changed:
                self._queue.popleft()
                task.done = True
                task.error = None
                self._changed.notify_all()

    def _abandon(self, error: BaseException) -> None:
        """Give up on every queued task (lock held): the journal still holds their instances,
        and the next opening of the store replays them."""
        for task in self._queue:
            task.error = task.error or error
        self._queue.clear()
        self._failures += 1
        self._last_error = error
        self._changed.notify_all()


def _failed(error: BaseException) -> DicomError:
    msg = f"stored durably, but announcing it failed ({error}); it is being retried"
    failure = DicomError(msg)
    failure.__cause__ = error
    return failure
