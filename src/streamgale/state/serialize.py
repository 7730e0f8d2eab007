"""Turning a :class:`~streamgale.state.base.Snapshot` into bytes and back.

Both state stores pickle snapshots the same way, so state that cannot be
saved fails in tests with the memory store exactly as it would in production.

>>> load_snapshot(dump_snapshot(Snapshot(epoch=3)), "example").epoch
3
"""

from __future__ import annotations

import pickle

from streamgale.errors import StateError
from streamgale.state.base import Snapshot

__all__ = ["dump_snapshot", "load_snapshot"]


def dump_snapshot(snapshot: Snapshot) -> bytes:
    """Pickle ``snapshot``, saying which part could not be pickled if one cannot."""
    if not isinstance(snapshot, Snapshot):
        msg = f"expected a Snapshot to save, got {type(snapshot).__name__}"
        raise StateError(msg)
    try:
        return pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickling raises many types: TypeError, PicklingError, ...
        msg = (
            f"snapshot of epoch {snapshot.epoch} cannot be pickled ({type(exc).__name__}: {exc}); "
            "the state of every step and the position of every source and sink must be "
            "picklable: keep plain data (dicts, lists, numbers, numpy arrays) in state"
        )
        raise StateError(msg) from exc


def load_snapshot(blob: bytes, source: str) -> Snapshot:
    """Unpickle a snapshot read from ``source`` (named in errors)."""
    try:
        snapshot = pickle.loads(blob)
    except Exception as exc:  # unpickling raises many types: AttributeError, ImportError, ...
        msg = (
            f"snapshot {source} is intact but cannot be unpickled ({type(exc).__name__}: {exc}); "
            "was it written by a pipeline whose step or state classes have since been "
            "renamed or removed? Restore that code, or move the snapshot aside to start over"
        )
        raise StateError(msg) from exc
    if not isinstance(snapshot, Snapshot):
        msg = f"{source} holds a {type(snapshot).__name__}, not a StreamGale Snapshot"
        raise StateError(msg)
    return snapshot
