"""JSON Lines files: a source reading one object per line, and a transactional sink.

>>> import tempfile, threading
>>> from pathlib import Path
>>> from streamgale.connectors.base import BuildContext
>>> d = Path(tempfile.mkdtemp())
>>> ctx = BuildContext("out", d, threading.Event())
>>> out = JsonLinesSink(d / "out.jsonl").build_part(ctx, "0", None)
>>> out.write_batch([{"a": 1}, {"a": 2}, {"a": 3}])
>>> out.flush(); out.close()
>>> src = JsonLinesSource(d / "out.jsonl", batch_size=2)
>>> part = src.build_part(ctx, src.list_parts()[0], None)
>>> part.next_batch()
[{'a': 1}, {'a': 2}]
>>> part.snapshot()
(16, 2)
>>> part.next_batch()
[{'a': 3}]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, BinaryIO

from streamgale.batch import Batch, iter_rows
from streamgale.connectors.base import BuildContext, Sink, SinkPartition, SourcePartition
from streamgale.connectors.files.common import BadRecord, FileSource, TransactionalFile
from streamgale.connectors.jsonenc import to_json
from streamgale.errors import ConfigError

__all__ = ["JsonLinesPartition", "JsonLinesSink", "JsonLinesSinkPartition", "JsonLinesSource"]


def check_batch_size(batch_size: int) -> int:
    """Validate a ``batch_size`` option once, at configuration time."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"batch_size must be a positive integer, got {batch_size!r}", key="batch_size"
        )
    return batch_size


def read_position(resume_state: Any | None) -> tuple[int, int]:
    """``(byte offset, lines read)`` from a line-based file snapshot."""
    if resume_state is None:
        return 0, 0
    offset, line = resume_state
    return int(offset), int(line)


class JsonLinesSource(FileSource):
    """Read JSON objects, one per line, from a file or every file a glob matches.

    Each file is one partition. Records are dicts. Blank lines are skipped. A
    line that is not valid JSON or not an object becomes a :class:`BadRecord`
    in the batch, which the runtime sends to the dead-letter store. A line
    without a final newline at the end of the file is read as a line.

    The snapshot is ``(byte offset, line number)`` just after the last line
    returned, so a restart reads exactly the lines after the last batch.
    """

    def __init__(self, path: str | os.PathLike[str], batch_size: int = 1024) -> None:
        super().__init__(path)
        self.batch_size = check_batch_size(batch_size)

    def open_file(self, path: Path, resume_state: Any | None) -> JsonLinesPartition:
        """A partition reading ``path`` from the position in ``resume_state``."""
        return JsonLinesPartition(path, self.batch_size, resume_state)


class JsonLinesPartition(SourcePartition[Any]):
    """Reads one JSON Lines file in batches of up to ``batch_size`` lines."""

    def __init__(self, path: Path, batch_size: int, resume_state: Any | None) -> None:
        self._path = path
        self._batch_size = batch_size
        self._offset, self._line = read_position(resume_state)
        self._file: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - held until close()
        self._file.seek(self._offset)

    def next_batch(self) -> Batch:
        """Up to ``batch_size`` lines parsed; ``StopIteration`` at the end of the file."""
        if self._file is None:
            raise StopIteration
        batch: list[Any] = []
        readline = self._file.readline
        for _ in range(self._batch_size):
            raw = readline()
            if not raw:
                break
            self._offset += len(raw)
            self._line += 1
            if raw.isspace():
                continue
            batch.append(self._parse(raw))
        else:
            return batch
        if not batch:
            self.close()
            raise StopIteration
        return batch

    def _parse(self, raw: bytes) -> Any:
        try:
            record = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            return self._bad(raw, f"not valid JSON: {exc}")
        if not isinstance(record, dict):
            kind = type(record).__name__
            return self._bad(raw, f"expected a JSON object, got a JSON {kind}")
        return record

    def _bad(self, raw: bytes, reason: str) -> BadRecord:
        text = raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
        return BadRecord(str(self._path), f"line {self._line}", text, reason)

    def snapshot(self) -> tuple[int, int]:
        """``(byte offset, line number)`` just after the last line returned."""
        return self._offset, self._line

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class JsonLinesSink(Sink[Any]):
    """Write records as JSON Lines to one file, exactly once.

    The sink is transactional: :meth:`~JsonLinesSinkPartition.flush` fsyncs
    and the snapshot is the durable length of the file. On restart the file is
    truncated to that length, dropping lines written after the last
    checkpoint, which the runtime replays. Without resume state the file
    starts empty: the sink owns its file.

    Rows of a :class:`~streamgale.batch.ColumnBatch` are written as objects;
    numpy values become plain JSON numbers and lists.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def list_parts(self) -> list[str]:
        """A single writer: one file has one end to append to."""
        return ["0"]

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> JsonLinesSinkPartition:
        """Open the file, truncated to the durable length in ``resume_state``."""
        return JsonLinesSinkPartition(TransactionalFile(Path(self.path), resume_state))


class JsonLinesSinkPartition(SinkPartition[Any]):
    """Appends lines to a :class:`TransactionalFile`."""

    def __init__(self, file: TransactionalFile) -> None:
        self._file = file

    def write_batch(self, batch: Batch) -> None:
        """Append one line per record; a record that cannot be encoded writes nothing."""
        lines = [to_json(record) for record in iter_rows(batch)]
        if lines:
            lines.append("")
            self._file.append("\n".join(lines).encode())

    def flush(self) -> None:
        """Flush and fsync the file."""
        self._file.sync()

    def snapshot(self) -> int:
        """Length of the file as of the last :meth:`flush`."""
        return self._file.durable_length

    def close(self) -> None:
        """Close the file; unflushed lines are discarded on the next restart."""
        self._file.close()
