"""A pipeline sink landing rows in the lake, exactly once across restarts.

Records are dicts with a ``"table"`` key naming the lake table and the
table's columns (see :mod:`streamgale.lake.rows`). The sink buffers them and
writes one file per table and partition when ``flush_rows`` rows are
buffered, when the oldest has waited ``flush_seconds`` (checked as batches
arrive), and at every checkpoint, so a checkpoint never acknowledges a row
that is not stored.

Exactly once: before writing, the sink journals the paths it is about to
write, under a sequence number, in its private state directory. Its
snapshot is the next sequence number. On restart it deletes the journaled
files from after its last snapshot, because the runtime replays their rows
from the input. Without a state directory a run starts from scratch and
nothing is deleted.

Once per key: producers record rows at least once (a step replayed after a
crash records them again), so the sink also drops a row whose key (the
table's :attr:`~streamgale.lake.schemas.TableSpec.key`) it landed before,
remembered in :class:`~streamgale.lake.keys.LandedKeys` under the same
sequence numbers. Each sink partition remembers its own keys: send rows of
one key to one partition.

>>> import tempfile, threading
>>> from pathlib import Path
>>> from streamgale.connectors.base import BuildContext
>>> root, state = tempfile.mkdtemp(), Path(tempfile.mkdtemp())
>>> out = LakeSink(root).build_part(BuildContext("lake", state, threading.Event()), "0", None)
>>> out.write_batch([{"table": "results", "ts": 0.0, "pipeline": "p", "result_id": "r"}])
>>> out.flush(); out.snapshot()
1
>>> len(Lake(root).files("results"))
1
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from streamgale.batch import Batch, iter_rows
from streamgale.connectors.base import BuildContext, Sink, SinkPartition
from streamgale.errors import ConfigError, StreamGaleError
from streamgale.fsutil import atomic_write
from streamgale.lake.keys import DEFAULT_KEEP, LandedKeys
from streamgale.lake.lake import Lake
from streamgale.lake.rows import rows_to_arrow
from streamgale.lake.storage import pyarrow_modules

__all__ = ["LakeSink", "LakeSinkPartition", "SinkJournal"]

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class LakeSink(Sink[Mapping[str, Any]]):
    """Write ``{"table": ..., <columns>}`` records to the lake at ``lake_root``.

    The builder holds only configuration, so it pickles. ``clock`` (monotonic
    seconds) is for tests that drive ``flush_seconds``. ``keep_keys``
    is how many keys of landed rows are remembered per table (see
    :mod:`streamgale.lake.keys`).
    """

    def __init__(
        self,
        lake_root: str | os.PathLike[str],
        *,
        storage_options: Mapping[str, Any] | None = None,
        flush_rows: int = 5000,
        flush_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        keep_keys: int = DEFAULT_KEEP,
    ) -> None:
        if not isinstance(flush_rows, int) or flush_rows < 1:
            raise ConfigError(f"must be a whole number >= 1; got {flush_rows!r}", key="flush_rows")
        if not flush_seconds > 0:
            raise ConfigError(f"must be > 0 seconds; got {flush_seconds!r}", key="flush_seconds")
        pyarrow_modules()  # fail when the pipeline is defined, not at its first batch
        self.lake_root = os.fspath(lake_root)
        self.storage_options = dict(storage_options or {})
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.keep_keys = keep_keys

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> LakeSinkPartition:
        """Open the lake; remove files written after the checkpoint in ``resume_state``."""
        lake = Lake(self.lake_root, storage_options=self.storage_options)
        name = _SAFE.sub("_", part)
        journal = SinkJournal(ctx.state_dir / f"lake-journal-{name}.json", lake)
        start = journal.recover(None if resume_state is None else int(resume_state))
        keys = LandedKeys(ctx.state_dir / f"lake-keys-{name}.sqlite", keep=self.keep_keys)
        keys.forget_from(start)  # the rows of the files recover deleted are replayed
        return LakeSinkPartition(lake, journal, keys, start, self)


class SinkJournal:
    """Paths the sink wrote, by sequence number, kept until a checkpoint covers them."""

    def __init__(self, path: Path, lake: Lake) -> None:
        self._path = path
        self._lake = lake
        self._entries: list[tuple[int, list[str]]] = []

    def recover(self, committed: int | None) -> int:
        """Delete files journaled at or after ``committed``; the sequence to go on from."""
        start = committed or 0
        data = self._load()
        if data is not None and data.get("root") != self._lake.root:
            log.warning(
                "lake sink journal %s is for lake %s, not %s; files it lists are left alone",
                self._path,
                data.get("root"),
                self._lake.root,
            )
        elif data is not None:
            for seq, paths in data.get("entries", []):
                if int(seq) >= start:
                    for path in paths:
                        self._lake.storage.delete(str(path))
        self._save()
        return start

    def _load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as exc:  # atomic writes make this a damaged disk, not a crash
            raise StreamGaleError(
                f"lake sink journal {self._path} is damaged ({exc}); delete it only if the "
                "lake may keep rows written after the last checkpoint twice"
            ) from exc
        return data if isinstance(data, dict) else None

    def add(self, seq: int, paths: list[str]) -> None:
        """Durably record paths about to be written."""
        self._entries.append((seq, paths))
        self._save()

    def prune(self, committed: int) -> None:
        """Forget entries a durable checkpoint covers (sequence below ``committed``)."""
        kept = [entry for entry in self._entries if entry[0] >= committed]
        if len(kept) != len(self._entries):
            self._entries = kept
            self._save()

    def _save(self) -> None:
        document = {"root": self._lake.root, "entries": self._entries}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path, json.dumps(document).encode())


class LakeSinkPartition(SinkPartition[Mapping[str, Any]]):
    """Buffers rows per table and writes them to the lake (see the module docstring)."""

    def __init__(
        self, lake: Lake, journal: SinkJournal, keys: LandedKeys, start: int, config: LakeSink
    ) -> None:
        self._pa, _ = pyarrow_modules()
        self._lake = lake
        self._journal = journal
        self._keys = keys
        self._seq = start
        self._snapshotted = start
        self._flush_rows = config.flush_rows
        self._flush_seconds = config.flush_seconds
        self._clock = config.clock
        self._buffers: dict[str, list[Any]] = {}
        self._rows = 0
        self._oldest: float | None = None
        self._retry_at = 0.0

    def write_batch(self, batch: Batch) -> None:
        """Buffer the batch's rows (a batch with a bad row buffers nothing), then write if due.

        A failed write here is not raised: the rows stay buffered and are
        written on a later batch or at the checkpoint, which raises if the
        lake still cannot be written.
        """
        tables = {name: rows_to_arrow(name, rows) for name, rows in _by_table(batch).items()}
        for name, data in tables.items():
            self._buffers.setdefault(name, []).append(data)
            self._rows += data.num_rows
        now = self._clock()
        if self._rows and self._oldest is None:
            self._oldest = now
        if not self._due(now):
            return
        try:
            self._write_buffered()
        except Exception as exc:
            self._retry_at = now + self._flush_seconds
            log.warning(
                "lake sink could not write to %s (%s: %s); %d rows stay buffered and are "
                "retried, at the latest at the next checkpoint",
                self._lake.root,
                type(exc).__name__,
                exc,
                self._rows,
            )

    def _due(self, now: float) -> bool:
        if now < self._retry_at:
            return False
        if self._rows >= self._flush_rows:
            return True
        return self._oldest is not None and now - self._oldest >= self._flush_seconds

    def _write_buffered(self) -> None:
        for name in list(self._buffers):
            data = self._pa.concat_tables(self._buffers[name])
            seq = self._seq
            self._seq += 1
            fresh, digests = self._keys.admit(name, data)
            planned: list[str] = []
            self._lake.write_arrow(name, fresh, before_write=partial(self._journaled, seq, planned))
            try:
                self._keys.record(name, digests, seq=seq)
            except BaseException:
                # Rows without their keys could land twice: unwrite them (deleting
                # needs no space), so a retry writes them again, keys and all.
                for path in planned:
                    with contextlib.suppress(Exception):
                        self._lake.storage.delete(path)
                raise
            # Dropped table by table, so a failure on the next one never rewrites this one.
            del self._buffers[name]
            self._rows -= data.num_rows
        self._oldest = None

    def _journaled(self, seq: int, planned: list[str], paths: list[str]) -> None:
        self._journal.add(seq, paths)
        planned.extend(paths)

    def flush(self) -> None:
        """Write everything buffered; raises if the lake cannot be written."""
        # The runtime flushes only once the previous checkpoint is durable, so
        # the files its snapshot covers are safe to forget.
        self._journal.prune(self._snapshotted)
        self._keys.prune()
        self._write_buffered()
        self._retry_at = 0.0

    def snapshot(self) -> int:
        """The next sequence number: files journaled before it are covered."""
        self._snapshotted = self._seq
        return self._seq

    def close(self) -> None:
        """Drop unwritten rows: the runtime replays them from the last checkpoint."""
        self._buffers.clear()
        self._rows = 0
        self._keys.close()


def _by_table(batch: Batch) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for index, record in enumerate(iter_rows(batch)):
        table = record.get("table") if isinstance(record, Mapping) else None
        if not isinstance(table, str):
            got = type(record).__name__ if not isinstance(record, Mapping) else "no 'table' key"
            raise StreamGaleError(
                f"record {index} of the batch cannot go to the lake ({got}); LakeSink "
                "writes dicts with a 'table' key naming a lake table and its columns"
            )
        grouped.setdefault(table, []).append(record)
    return grouped
