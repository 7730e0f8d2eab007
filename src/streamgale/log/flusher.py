"""The background fsync of the ``INTERVAL`` policy.

With ``FsyncPolicy.INTERVAL`` an append only marks its partition dirty and
wakes this thread, which waits out the interval (letting more appends join
the same fsync) and then fsyncs every dirty partition. Appenders never wait
for the disk, yet nothing stays unsynced much longer than the interval, even
when appends stop: the bound holds in idle periods too, which an fsync
checked only on the next append could not promise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Flusher"]

logger = logging.getLogger("streamgale.log")


class Flusher:
    """Runs ``flush`` at most ``interval_s`` after :meth:`notify`, on its own thread."""

    def __init__(self, interval_s: float, flush: Callable[[], None], *, name: str) -> None:
        self._interval_s = interval_s
        self._flush = flush
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Something became dirty: flush it within the interval."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread after any flush in progress; the caller syncs what is left."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        # stop() may land anywhere in this loop, even just before wake.clear();
        # checking the stop flag at the top of every round is what makes it stick.
        while not self._stopping.is_set():
            self._wake.wait()
            if self._stopping.is_set():
                return
            # Wait out the interval so that appends arriving meanwhile share this fsync.
            self._stopping.wait(self._interval_s)
            self._wake.clear()
            try:
                self._flush()
            except Exception:
                # The partition stays dirty; the next flush, sync() or close() retries
                # and raises to its caller.
                logger.exception("background fsync of the log failed; will retry")
