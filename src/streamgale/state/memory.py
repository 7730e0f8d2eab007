"""In-memory state store: for runs that need no durability, and for tests."""

from __future__ import annotations

import pickle

from streamgale.state.base import Snapshot, StateStore

__all__ = ["MemoryStateStore"]


class MemoryStateStore(StateStore):
    """Keeps the latest snapshot in memory.

    The snapshot is pickled on save, as a durable store would, so state that
    cannot be saved fails here too, not only in production.

    >>> store = MemoryStateStore()
    >>> store.save(Snapshot(epoch=1, steps={"w": {"a": 1}}))
    >>> store.load().steps
    {'w': {'a': 1}}
    """

    def __init__(self) -> None:
        self._blob: bytes | None = None

    def save(self, snapshot: Snapshot) -> None:
        self._blob = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self) -> Snapshot | None:
        return None if self._blob is None else pickle.loads(self._blob)  # type: ignore[no-any-return]
