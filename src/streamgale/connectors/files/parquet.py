"""Parquet files: a columnar source and a sink writing one file per checkpoint.

Both need the ``parquet`` extra (pyarrow), imported only when a Parquet
connector is created.

>>> import tempfile, threading
>>> import numpy as np
>>> from pathlib import Path
>>> from streamgale.batch import ColumnBatch
>>> from streamgale.connectors.base import BuildContext
>>> d = Path(tempfile.mkdtemp())
>>> ctx = BuildContext("io", d, threading.Event())
>>> out = ParquetSink(d / "out").build_part(ctx, "0", None)
>>> out.write_batch(ColumnBatch({"x": np.arange(5)}))
>>> out.flush(); out.close()
>>> sorted(p.name for p in (d / "out").iterdir())
['part-00000000-0.parquet']
>>> src = ParquetSource(d / "out" / "*.parquet", batch_size=3)
>>> part = src.build_part(ctx, src.list_parts()[0], None)
>>> part.next_batch()["x"].tolist(), part.snapshot()
([0, 1, 2], (0, 3))
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamgale.batch import Batch, ColumnBatch
from streamgale.connectors.base import BuildContext, Sink, SinkPartition, SourcePartition
from streamgale.connectors.files.common import FileSource
from streamgale.connectors.files.jsonl import check_batch_size
from streamgale.errors import MissingExtraError, StreamGaleError
from streamgale.fsutil import fsync_dir

__all__ = [
    "ParquetPartition",
    "ParquetSink",
    "ParquetSinkPartition",
    "ParquetSource",
    "require_pyarrow",
]


def require_pyarrow() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or MissingExtraError naming the extra."""
    try:
        import pyarrow as pa  # an optional extra: imported only when used
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtraError("Parquet files", "parquet", "pyarrow") from exc
    return pa, pq


class ParquetSource(FileSource):
    """Read a Parquet file, or every file a glob matches, as ColumnBatches.

    Each file is one partition; each batch is one Arrow record batch of up to
    ``batch_size`` rows, converted to a :class:`~streamgale.batch.ColumnBatch`
    (zero-copy where Arrow allows; strings become object columns). The
    snapshot is ``(row group index, rows read in that group)``.
    """

    def __init__(self, path: str | os.PathLike[str], batch_size: int = 65536) -> None:
        require_pyarrow()  # fail at configuration time, not at the first batch
        super().__init__(path)
        self.batch_size = check_batch_size(batch_size)

    def open_file(self, path: Path, resume_state: Any | None) -> ParquetPartition:
        """A partition reading ``path`` from the position in ``resume_state``."""
        return ParquetPartition(path, self.batch_size, resume_state)


class ParquetPartition(SourcePartition[Any]):
    """Reads one Parquet file, row group by row group."""

    def __init__(self, path: Path, batch_size: int, resume_state: Any | None) -> None:
        _, pq = require_pyarrow()
        self._file: Any = pq.ParquetFile(path)
        self._batch_size = batch_size
        group, row = resume_state if resume_state is not None else (0, 0)
        self._group, self._row = int(group), int(row)
        self._batches: Iterator[Any] | None = None

    def next_batch(self) -> Batch:
        """The next record batch; ``StopIteration`` after the last row group."""
        if self._file is None:
            raise StopIteration
        while self._group < self._file.num_row_groups:
            if self._batches is None:
                self._batches = self._group_batches(self._group, self._row)
            record_batch = next(self._batches, None)
            if record_batch is None:
                self._group, self._row, self._batches = self._group + 1, 0, None
                continue
            self._row += record_batch.num_rows
            return ColumnBatch.from_arrow(record_batch)
        self.close()
        raise StopIteration

    def _group_batches(self, group: int, start: int) -> Iterator[Any]:
        """Record batches of one row group, from row ``start`` on."""
        seen = 0
        for record_batch in self._file.iter_batches(
            batch_size=self._batch_size, row_groups=[group]
        ):
            end = seen + record_batch.num_rows
            if end > start:
                yield record_batch.slice(max(0, start - seen))
            seen = end

    def snapshot(self) -> tuple[int, int]:
        """``(row group index, rows of it already returned)``."""
        return self._group, self._row

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class ParquetSink(Sink[Any]):
    """Write batches to a directory of Parquet files, one file per flush.

    Batches are buffered in memory; each :meth:`~ParquetSinkPartition.flush`
    (the runtime's checkpoint) writes them as ``part-<epoch>-<partition>.parquet``
    where ``epoch`` counts this writer's files from 0. A file is written under
    a temporary name, fsynced and renamed, so readers never see half a file.
    The snapshot is the next epoch; on restart, files from later epochs (written
    after the last checkpoint, and about to be written again) are deleted.
    Without resume state, the writer's existing files are deleted: the sink
    owns its files.

    Batches whose schemas differ are merged with Arrow's permissive promotion
    (int and float become float, missing columns become null); a batch whose
    column types cannot be merged is refused by ``write_batch``.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        require_pyarrow()
        self.directory = os.fspath(directory)

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> ParquetSinkPartition:
        """Prepare ``directory``, deleting files past the epoch in ``resume_state``."""
        return ParquetSinkPartition(Path(self.directory), part, resume_state)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class ParquetSinkPartition(SinkPartition[Any]):
    """Buffers batches and writes them as one Parquet file per flush."""

    def __init__(self, directory: Path, part: str, resume_state: Any | None) -> None:
        self._pa, self._pq = require_pyarrow()
        self._directory = directory
        self._part = _SAFE_NAME.sub("_", part)
        self._epoch = 0 if resume_state is None else int(resume_state)
        self._tables: list[Any] = []
        self._schema: Any = None
        directory.mkdir(parents=True, exist_ok=True)
        self._discard_after_checkpoint()

    def _discard_after_checkpoint(self) -> None:
        pattern = re.compile(rf"\.?part-(\d+)-{re.escape(self._part)}\.parquet(\.tmp)?")
        removed = False
        for path in self._directory.iterdir():
            match = pattern.fullmatch(path.name)
            if match and (match.group(2) or int(match.group(1)) >= self._epoch):
                path.unlink()
                removed = True
        if removed:
            fsync_dir(self._directory)

    def write_batch(self, batch: Batch) -> None:
        """Buffer a batch; raises if its columns cannot be merged with earlier ones."""
        table = self._to_table(batch)
        if table is None:
            return
        schema = table.schema
        if self._schema is not None and schema != self._schema:
            try:
                schema = self._pa.unify_schemas(
                    [self._schema, schema], promote_options="permissive"
                )
            except (self._pa.ArrowInvalid, self._pa.ArrowTypeError) as exc:
                raise StreamGaleError(
                    f"batch columns do not match earlier batches of this Parquet file: {exc}; "
                    "cast the columns to one type in a step before the sink"
                ) from exc
        self._tables.append(table)
        self._schema = schema

    def _to_table(self, batch: Batch) -> Any:
        if len(batch) == 0:
            return None
        if isinstance(batch, ColumnBatch):
            return self._pa.Table.from_batches([batch.to_arrow()])
        if not all(isinstance(record, dict) for record in batch):
            raise StreamGaleError(
                "ParquetSink writes dict records or ColumnBatches; got a "
                f"{type(next(r for r in batch if not isinstance(r, dict))).__name__}; "
                "map records to dicts in a step before the sink"
            )
        try:
            return self._pa.Table.from_pylist(batch)
        except (self._pa.ArrowInvalid, self._pa.ArrowTypeError) as exc:
            raise StreamGaleError(f"records cannot be converted to Arrow columns: {exc}") from exc

    def flush(self) -> None:
        """Write the buffered batches as the next part file, durably."""
        if not self._tables:
            return
        table = self._pa.concat_tables(self._tables, promote_options="permissive")
        name = f"part-{self._epoch:08d}-{self._part}.parquet"
        tmp = self._directory / f".{name}.tmp"
        self._pq.write_table(table, tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, self._directory / name)
        fsync_dir(self._directory)
        self._epoch += 1
        self._tables, self._schema = [], None

    def snapshot(self) -> int:
        """The epoch of the next file: files before it are durable."""
        return self._epoch

    def close(self) -> None:
        """Drop unflushed batches; the runtime replays them after a restart."""
        self._tables, self._schema = [], None
