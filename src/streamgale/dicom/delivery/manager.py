"""One durable delivery queue per destination, started and stopped together.

A route names its destinations; the pipeline hands each result to
:meth:`DeliveryManager.enqueue` (or :meth:`DeliveryManager.enqueue_all`) and
acknowledges its input once that returns: every queue has then committed the
result. Each queue has its own worker thread and its own backoff, so a
destination that is down only grows its own backlog.

If the process dies between two queues' commits, enqueueing the result again
with the same key fills in the queues that missed it and leaves the others
alone (enqueue is idempotent per key and queue).

>>> import tempfile
>>> from pathlib import Path
>>> from streamgale.dicom.delivery.destinations import DimseDestination, StowDestination
>>> destinations = [DimseDestination("pacs", "127.0.0.1", 104, "PACS"),
...                 StowDestination("archive", "http://127.0.0.1:9/dicomweb")]
>>> with DeliveryManager(Path(tempfile.mkdtemp()), destinations) as manager:
...     manager.enqueue_all([b"result"], key="r1")
...     manager.backlog()
{'pacs': True, 'archive': True}
{'pacs': 1, 'archive': 1}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from streamgale.dicom.delivery.destinations import Destination
from streamgale.dicom.delivery.queue import DeliveryListener, DeliveryQueue, QueueState
from streamgale.errors import ConfigError
from streamgale.runtime.logic import Clock

__all__ = ["DeliveryManager"]


class DeliveryManager:
    """Owns a :class:`DeliveryQueue` per destination, in ``directory/<name>/``.

    The retry settings apply to every queue; see :class:`DeliveryQueue`.
    """

    def __init__(
        self,
        directory: Path,
        destinations: Sequence[Destination],
        *,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        max_attempts: int | None = None,
        clock: Clock | None = None,
        listener: DeliveryListener | None = None,
    ) -> None:
        names = [destination.name for destination in destinations]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ConfigError(
                f"destination names must be unique; {', '.join(repeated)} appear more than once",
                key="destinations",
            )
        self.directory = Path(directory)
        self.queues: dict[str, DeliveryQueue] = {}
        try:
            for destination in destinations:
                self.queues[destination.name] = DeliveryQueue(
                    self.directory / destination.name,
                    destination,
                    backoff=backoff,
                    max_backoff=max_backoff,
                    max_attempts=max_attempts,
                    clock=clock,
                    listener=listener,
                )
        except BaseException:
            self.close()
            raise

    def enqueue_all(self, items: Sequence[bytes], key: str) -> dict[str, bool]:
        """Queue ``items`` for every destination; per destination, whether it was new."""
        return self.enqueue(self.queues, items, key)

    def enqueue(self, names: Iterable[str], items: Sequence[bytes], key: str) -> dict[str, bool]:
        """Queue ``items`` for the named destinations (a route's), durably on return."""
        chosen = list(names)
        unknown = [name for name in chosen if name not in self.queues]
        if unknown:
            raise ConfigError(
                f"unknown destination(s) {', '.join(unknown)}; configured: "
                f"{', '.join(self.queues) or 'none'}",
                key="destinations",
            )
        return {name: self.queues[name].enqueue(items, key) for name in chosen}

    def backlog(self) -> dict[str, int]:
        """Pending items per destination."""
        return {name: queue.backlog() for name, queue in self.queues.items()}

    def state(self) -> dict[str, QueueState]:
        """:meth:`DeliveryQueue.state` of every destination."""
        return {name: queue.state() for name, queue in self.queues.items()}

    def wake(self) -> None:
        """Make every worker look at its queue now."""
        for queue in self.queues.values():
            queue.wake()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` real seconds for every backlog to empty."""
        return all(queue.wait_idle(timeout) for queue in self.queues.values())

    def start(self) -> None:
        """Start every queue's worker."""
        for queue in self.queues.values():
            queue.start()

    def stop(self) -> None:
        """Stop every worker; queued items stay on disk for the next start."""
        for queue in self.queues.values():
            queue.stop(wait=False)  # signal all first, so slow sends overlap their shutdown
        for queue in self.queues.values():
            queue.stop()

    def close(self) -> None:
        """Stop the workers and close every queue (idempotent)."""
        self.stop()
        for queue in self.queues.values():
            queue.close()

    def __enter__(self) -> DeliveryManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
