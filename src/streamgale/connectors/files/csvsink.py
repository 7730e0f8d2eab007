"""A transactional CSV sink: rows appended to one file, exactly once.

>>> import tempfile, threading
>>> from pathlib import Path
>>> from streamgale.connectors.base import BuildContext
>>> d = Path(tempfile.mkdtemp())
>>> out = CsvSink(d / "out.csv").build_part(BuildContext("out", d, threading.Event()), "0", None)
>>> out.write_batch([{"name": "ada", "age": 36}, {"name": "bob", "age": None}])
>>> out.flush(); out.close()
>>> print((d / "out.csv").read_text(), end="")
name,age
ada,36
bob,
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamgale.batch import Batch, iter_rows
from streamgale.connectors.base import BuildContext, Sink, SinkPartition
from streamgale.connectors.files.common import TransactionalFile
from streamgale.connectors.jsonenc import json_default, to_json
from streamgale.errors import StreamGaleError

__all__ = ["CsvDialect", "CsvSink", "CsvSinkPartition"]


@dataclass(frozen=True)
class CsvDialect:
    """How the sink writes CSV: see :mod:`csv`."""

    delimiter: str = ","
    quotechar: str = '"'
    lineterminator: str = "\n"


class CsvSink(Sink[Any]):
    """Write dict records as CSV rows to one file, with a header row.

    The columns are ``fieldnames`` or, by default, the keys of the first record.
    A missing key or ``None`` writes an empty field; a key not among the
    columns is refused by ``write_batch`` (select or rename fields in a step
    first). Numpy values are written as plain numbers.

    Like :class:`~streamgale.connectors.files.jsonl.JsonLinesSink`, the sink is
    transactional: flush fsyncs, the snapshot is ``(durable length, columns)``,
    and a restart truncates the file to that length. Without resume state the
    file starts empty.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fieldnames: Sequence[str] | None = None,
        *,
        delimiter: str = ",",
        quotechar: str = '"',
        lineterminator: str = "\n",
        encoding: str = "utf-8",
    ) -> None:
        self.path = os.fspath(path)
        self.fieldnames = tuple(fieldnames) if fieldnames is not None else None
        self.dialect = CsvDialect(delimiter, quotechar, lineterminator)
        self.encoding = encoding

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> CsvSinkPartition:
        """Open the file, truncated to the durable length in ``resume_state``."""
        length, fields = resume_state if resume_state is not None else (None, self.fieldnames)
        file = TransactionalFile(Path(self.path), length)
        return CsvSinkPartition(file, fields, self.dialect, self.encoding)


class CsvSinkPartition(SinkPartition[Any]):
    """Appends rows to a :class:`TransactionalFile`, writing the header first."""

    def __init__(
        self,
        file: TransactionalFile,
        fieldnames: Sequence[str] | None,
        dialect: CsvDialect,
        encoding: str,
    ) -> None:
        self._file = file
        self._fields = tuple(fieldnames) if fieldnames is not None else None
        self._dialect = dialect
        self._encoding = encoding

    def write_batch(self, batch: Batch) -> None:
        """Append one row per record; a batch with a bad record writes nothing."""
        rows = list(iter_rows(batch))
        if not rows:
            return
        fields = self._fields or _columns_of(rows[0])
        text = io.StringIO()
        writer = csv.writer(
            text,
            delimiter=self._dialect.delimiter,
            quotechar=self._dialect.quotechar,
            lineterminator=self._dialect.lineterminator,
        )
        if self._file.written_length == 0:
            writer.writerow(fields)
        for index, row in enumerate(rows):
            writer.writerow(_cells(row, fields, index))
        self._file.append(text.getvalue().encode(self._encoding))
        self._fields = fields

    def flush(self) -> None:
        """Flush and fsync the file."""
        self._file.sync()

    def snapshot(self) -> tuple[int, tuple[str, ...] | None]:
        """``(length as of the last flush, columns)``."""
        return self._file.durable_length, self._fields

    def close(self) -> None:
        """Close the file; unflushed rows are discarded on the next restart."""
        self._file.close()


def _check_mapping(record: Any) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        raise StreamGaleError(
            f"CsvSink writes dict records; got a {type(record).__name__}; "
            "map records to dicts in a step before the sink"
        )
    return record


def _columns_of(record: Any) -> tuple[str, ...]:
    return tuple(str(name) for name in _check_mapping(record))


def _cells(record: Any, fields: tuple[str, ...], index: int) -> list[Any]:
    mapping = _check_mapping(record)
    extra = [name for name in mapping if name not in fields]
    if extra:
        raise StreamGaleError(
            f"record {index} of the batch has fields {extra} that are not CSV columns "
            f"{list(fields)}; pass fieldnames= to CsvSink or select fields in a step"
        )
    return [_cell(mapping.get(name)) for name in fields]


def _cell(value: Any) -> Any:
    """A CSV field: empty for None, JSON for containers, plain numbers for numpy."""
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, Mapping | list | tuple | np.ndarray):
        return to_json(value)
    return json_default(value)
