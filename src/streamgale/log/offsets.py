"""Committed consumer-group offsets of one topic, one small JSON file per group.

``<topic>/offsets/<group>.json`` holds ``{"group": ..., "offsets": {"0": 12}}``
and is replaced atomically on every commit, so after a crash a group's
offsets are those of its last completed commit, never a torn mix.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import quote

from streamgale.errors import LogError
from streamgale.log.fsutil import atomic_write, fsync_dir

__all__ = ["OffsetBook"]

_MAX_FILE_NAME = 240


class OffsetBook:
    """Committed offsets of every consumer group of one topic."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._groups: dict[str, dict[int, int]] = {}
        if directory.is_dir():
            self._load()

    def commit(self, group: str, partition: int, offset: int) -> None:
        """Durably record ``offset`` for ``group`` on ``partition``."""
        path = self._directory / _file_name(group)
        with self._lock:
            offsets = dict(self._groups.get(group, {}))
            offsets[partition] = offset
            document = {"group": group, "offsets": {str(p): o for p, o in offsets.items()}}
            if not self._directory.is_dir():
                self._directory.mkdir()
                fsync_dir(self._directory.parent)
            atomic_write(path, json.dumps(document, sort_keys=True).encode())
            self._groups[group] = offsets

    def committed(self, group: str, partition: int) -> int | None:
        """Last committed offset of ``group`` on ``partition``, or None."""
        return self._groups.get(group, {}).get(partition)

    def lowest(self, partition: int) -> int | None:
        """Lowest offset any group committed on ``partition``, or None if none did."""
        with self._lock:
            offsets = [o[partition] for o in self._groups.values() if partition in o]
        return min(offsets) if offsets else None

    def _load(self) -> None:
        for path in sorted(self._directory.iterdir()):
            if path.name.endswith(".json.tmp"):
                path.unlink()  # a commit that crashed before its rename never happened
            elif path.name.endswith(".json"):
                group, offsets = _read_document(path)
                self._groups[group] = offsets


def _file_name(group: str) -> str:
    name = quote(group, safe="-_")
    # A leading dot would hide the file; quote() never escapes dots itself.
    if name.startswith("."):
        name = "%2E" + name[1:]
    name += ".json"
    if len(name) > _MAX_FILE_NAME:
        msg = f"consumer group name {group!r} is too long for a file name; use a shorter one"
        raise LogError(msg)
    return name


def _read_document(path: Path) -> tuple[str, dict[int, int]]:
    try:
        document = json.loads(path.read_bytes())
        group = document["group"]
        offsets = {int(p): int(o) for p, o in document["offsets"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        msg = (
            f"committed offsets file {path} is unreadable ({exc}); fix or delete it "
            "(deleting makes that group start again from its configured start position)"
        )
        raise LogError(msg) from exc
    if not isinstance(group, str):
        raise LogError(f"committed offsets file {path} has a non-string group {group!r}")
    return group, offsets
