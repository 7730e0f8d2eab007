"""Watch a directory and read every file that appears in it, once.

A writer must not be read half-way. :class:`DirectorySource` therefore takes
a file only when it is *ready*:

* ``ready="stable"`` (the default): its size and modification time are the
  same at two consecutive polls, ``poll_interval`` apart. This suits writers
  that write a file in place, provided they never pause longer than that.
* ``ready="renamed"``: at first sight. Use it when writers create each file
  under a hidden or non-matching name and rename it into place when it is
  complete (an atomic rename), which is the safest way to deliver files.

Hidden files (names starting with ``.``) are never read.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from streamgale.batch import Batch
from streamgale.connectors.base import BuildContext, Source, SourcePartition
from streamgale.connectors.files.csvfile import CsvFormat, CsvPartition
from streamgale.connectors.files.jsonl import JsonLinesPartition, check_batch_size
from streamgale.connectors.files.parquet import ParquetPartition, require_pyarrow
from streamgale.errors import ConfigError
from streamgale.runtime.logic import Clock, SystemClock

__all__ = ["DirectoryPartition", "DirectorySource"]

FileFormat = Literal["jsonl", "csv", "parquet"]
Readiness = Literal["stable", "renamed"]

_DEFAULT_BATCH = {"jsonl": 1024, "csv": 1024, "parquet": 65536}


class DirectorySource(Source[Any]):
    """Read the files matching ``pattern`` in ``directory``, as they appear.

    One partition reads ready files (see the module docstring) in name order,
    each from start to end, in the given ``format``; records are those of
    :class:`JsonLinesSource`, :class:`CsvSource` (configured by ``csv``) or
    :class:`ParquetSource`. It never ends: it polls the directory every
    ``poll_interval`` seconds, and :meth:`~DirectoryPartition.next_awake`
    returns the next poll time.

    The snapshot holds the names of the files already read and the position in
    the current one, so a restart neither re-reads nor skips. A file that is
    deleted is forgotten, so one created again under the same name is read.

    >>> import tempfile, threading
    >>> from streamgale.runtime.logic import ManualClock
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.jsonl").write_text('{"n": 1}\\n')
    >>> clock = ManualClock()
    >>> src = DirectorySource(d, ready="renamed", clock=clock)
    >>> part = src.build_part(BuildContext("in", d, threading.Event()), "0", None)
    >>> part.next_batch()
    [{'n': 1}]
    >>> part.next_batch(), part.next_awake()
    ([], 0.5)
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        pattern: str = "*.jsonl",
        format: FileFormat = "jsonl",
        poll_interval: float = 0.5,
        *,
        ready: Readiness = "stable",
        batch_size: int | None = None,
        csv: CsvFormat | None = None,
        clock: Clock | None = None,
    ) -> None:
        if format not in _DEFAULT_BATCH:
            raise ConfigError(
                f"unknown file format {format!r}; use one of {sorted(_DEFAULT_BATCH)}",
                key="format",
            )
        if ready not in ("stable", "renamed"):
            raise ConfigError(
                f"unknown readiness rule {ready!r}; use 'stable' or 'renamed'", key="ready"
            )
        if not (poll_interval > 0 and math.isfinite(poll_interval)):
            raise ConfigError(
                f"poll_interval must be a positive number of seconds, got {poll_interval!r}",
                key="poll_interval",
            )
        if format == "parquet":
            require_pyarrow()
        self.directory = os.fspath(directory)
        self.pattern = pattern
        self.format: FileFormat = format
        self.poll_interval = float(poll_interval)
        self.ready: Readiness = ready
        self.batch_size = check_batch_size(batch_size or _DEFAULT_BATCH[format])
        self.csv = csv or CsvFormat()
        self.clock: Clock = clock or SystemClock()

    def list_parts(self) -> list[str]:
        """One partition: files are read one after the other, in name order."""
        return ["0"]

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> DirectoryPartition:
        """Start watching, resuming with the files and position in ``resume_state``."""
        directory = Path(self.directory)
        if not directory.is_dir():
            raise ConfigError(
                f"'{directory}' is not an existing directory; create it or fix the path",
                key="directory",
            )
        return DirectoryPartition(self, resume_state)

    def open_file(self, path: Path, position: Any | None) -> SourcePartition[Any]:
        """A reader of one file in this source's format, from ``position``."""
        if self.format == "csv":
            return CsvPartition(path, self.batch_size, self.csv, position)
        if self.format == "parquet":
            return ParquetPartition(path, self.batch_size, position)
        return JsonLinesPartition(path, self.batch_size, position)


class DirectoryPartition(SourcePartition[Any]):
    """Polls one directory and reads its ready files one after the other."""

    def __init__(self, config: DirectorySource, resume: Any | None) -> None:
        self._directory = Path(config.directory)
        self._pattern = config.pattern
        self._interval = config.poll_interval
        self._at_first_sight = config.ready == "renamed"
        self._clock = config.clock
        self._config = config
        self._next_poll = -math.inf
        self._seen: dict[str, tuple[int, int]] = {}  # name -> (size, mtime) last poll
        self._ready: list[str] = []
        state = resume or {"done": (), "current": None, "position": None}
        self._done: set[str] = set(state["done"])
        self._current: str | None = None
        self._reader: SourcePartition[Any] | None = None
        if state["current"] is not None and (self._directory / state["current"]).is_file():
            self._open(state["current"], state["position"])

    def next_batch(self) -> Batch:
        """Records of the current file; an empty list while no ready file is waiting."""
        if self._clock.now() >= self._next_poll:
            self._poll()
        while True:
            reader = self._reader or self._open_next()
            if reader is None:
                return []
            try:
                batch = reader.next_batch()
            except StopIteration:
                self._finish_current()
                continue
            if len(batch):
                return batch

    def _open(self, name: str, position: Any | None) -> SourcePartition[Any]:
        self._reader = self._config.open_file(self._directory / name, position)
        self._current = name
        return self._reader

    def _open_next(self) -> SourcePartition[Any] | None:
        return self._open(self._ready.pop(0), None) if self._ready else None

    def _finish_current(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._current is not None:
            self._done.add(self._current)
        self._reader = self._current = None

    def _poll(self) -> None:
        self._next_poll = self._clock.now() + self._interval
        listing = dict(self._matching_files())
        # Forget deleted files, so that a new file with an old name is read.
        self._done &= listing.keys()
        waiting = set(self._ready)
        for name, signature in listing.items():
            if name in self._done or name in waiting or name == self._current:
                continue
            if self._at_first_sight or self._seen.get(name) == signature:
                waiting.add(name)
        self._seen = listing
        self._ready = sorted(waiting & listing.keys())

    def _matching_files(self) -> Iterable[tuple[str, tuple[int, int]]]:
        with os.scandir(self._directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not fnmatch.fnmatch(entry.name, self._pattern):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    stat = entry.stat()
                except FileNotFoundError:  # deleted while we looked
                    continue
                yield entry.name, (stat.st_size, stat.st_mtime_ns)

    def next_awake(self) -> float:
        """The time of the next directory poll, on the source's clock."""
        return self._next_poll

    def snapshot(self) -> dict[str, Any]:
        """Files read completely, the current file and the position in it."""
        return {
            "done": sorted(self._done),
            "current": self._current,
            "position": self._reader.snapshot() if self._reader is not None else None,
        }

    def close(self) -> None:
        """Close the current file."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
