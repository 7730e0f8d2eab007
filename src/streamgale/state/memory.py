"""An in-memory state store: for runs that need no durability, and for tests."""

from __future__ import annotations

import threading

from streamgale.state.base import Snapshot, StateStore
from streamgale.state.serialize import dump_snapshot, load_snapshot

__all__ = ["MemoryStateStore"]


class MemoryStateStore(StateStore):
    """Keeps the latest snapshot in process memory.

    The snapshot is pickled on save, as the file store does, so state that
    cannot be saved fails here too, not only in production, and later changes
    to the caller's objects cannot alter what was saved.

    >>> store = MemoryStateStore()
    >>> store.load() is None
    True
    >>> store.save(Snapshot(epoch=1, steps={"w": {"a": 1}}))
    >>> store.load().steps
    {'w': {'a': 1}}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blob: bytes | None = None

    def save(self, snapshot: Snapshot) -> None:
        """Replace the stored snapshot with a copy of ``snapshot``."""
        blob = dump_snapshot(snapshot)
        with self._lock:
            self._blob = blob

    def load(self) -> Snapshot | None:
        """A copy of the latest saved snapshot, or None."""
        with self._lock:
            blob = self._blob
        return None if blob is None else load_snapshot(blob, "in memory")
