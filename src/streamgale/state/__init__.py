"""Where consistent snapshots of a pipeline live: in memory or in files.

>>> store = MemoryStateStore()
>>> store.save(Snapshot(epoch=1, sources={"src/0": 10}))
>>> store.load().epoch
1
"""

from streamgale.state.base import Snapshot, StateStore
from streamgale.state.file import FileStateStore
from streamgale.state.memory import MemoryStateStore

__all__ = ["FileStateStore", "MemoryStateStore", "Snapshot", "StateStore"]
