"""Where consistent snapshots of a pipeline live: in memory or in files."""

from streamgale.state.base import Snapshot, StateStore
from streamgale.state.file import FileStateStore
from streamgale.state.memory import MemoryStateStore

__all__ = ["FileStateStore", "MemoryStateStore", "Snapshot", "StateStore"]
