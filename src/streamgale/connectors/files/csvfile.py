"""CSV files: a source with typed columns and a transactional sink.

>>> import tempfile, threading
>>> from pathlib import Path
>>> from streamgale.connectors.base import BuildContext
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "in.csv").write_text("name,age\\nada,36\\nbob,x\\n")
>>> src = CsvSource(d / "in.csv", types={"age": int})
>>> part = src.build_part(BuildContext("in", d, threading.Event()), src.list_parts()[0], None)
>>> rows = part.next_batch()
>>> rows[0]
{'name': 'ada', 'age': 36}
>>> rows[1].reason
"column 'age': invalid literal for int() with base 10: 'x'"
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from streamgale.batch import Batch
from streamgale.connectors.base import SourcePartition
from streamgale.connectors.files.common import BadRecord, FileSource
from streamgale.connectors.files.jsonl import check_batch_size, read_position
from streamgale.errors import ConfigError

__all__ = ["CsvFormat", "CsvPartition", "CsvSource", "parse_bool"]

Converter = Callable[[str], Any]

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def parse_bool(text: str) -> bool:
    """``true/false``, ``yes/no``, ``t/f``, ``y/n`` or ``1/0``, in any case."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true/false, yes/no or 1/0, got {text!r}")


@dataclass(frozen=True)
class CsvFormat:
    """How to read a CSV file.

    The dialect options are those of :mod:`csv`. With ``header=True`` the first
    row names the columns, unless ``fieldnames`` overrides them; with
    ``header=False``, ``fieldnames`` is required. ``types`` maps a column to a
    converter called on its text (``int``, ``float``, ``bool`` - which accepts
    true/false, yes/no, 1/0 - or any picklable function); an empty field of a
    typed column becomes ``None``; untyped columns stay strings. ``strict``
    makes malformed quoting a bad record instead of a guess. ``encoding``
    must be ASCII-compatible (UTF-8, Latin-1, ...).
    """

    delimiter: str = ","
    quotechar: str = '"'
    escapechar: str | None = None
    doublequote: bool = True
    skipinitialspace: bool = False
    strict: bool = True
    header: bool = True
    fieldnames: Sequence[str] | None = None
    types: Mapping[str, Converter] | None = field(default=None, hash=False)
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if not self.header and not self.fieldnames:
            raise ConfigError(
                "a CSV file without a header row needs fieldnames=[...] to name its columns",
                key="fieldnames",
            )
        if len(self.delimiter) != 1:
            raise ConfigError(
                f"delimiter must be one character, got {self.delimiter!r}", key="delimiter"
            )

    def dialect(self) -> dict[str, Any]:
        """Keyword arguments for :func:`csv.reader`."""
        return {
            "delimiter": self.delimiter,
            "quotechar": self.quotechar,
            "escapechar": self.escapechar,
            "doublequote": self.doublequote,
            "skipinitialspace": self.skipinitialspace,
            "strict": self.strict,
        }


class CsvSource(FileSource):
    """Read rows as dicts from a CSV file, or from every file a glob matches.

    Each file is one partition. The snapshot is ``(byte offset, line number)``
    after the last row returned. A row with the wrong number of fields, bad
    quoting, undecodable text or a value its type rejects becomes a
    :class:`BadRecord`, which the runtime sends to the dead-letter store.
    Blank lines are skipped. See :class:`CsvFormat` for the options.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        batch_size: int = 1024,
        *,
        types: Mapping[str, Converter] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(path)
        self.batch_size = check_batch_size(batch_size)
        try:
            self.format = CsvFormat(types=types, **options)
        except TypeError as exc:
            raise ConfigError(f"unknown CSV option: {exc}; see CsvFormat") from exc

    def open_file(self, path: Path, resume_state: Any | None) -> CsvPartition:
        """A partition reading ``path`` from the position in ``resume_state``."""
        return CsvPartition(path, self.batch_size, self.format, resume_state)


class CsvPartition(SourcePartition[Any]):
    """Reads one CSV file in batches of up to ``batch_size`` rows."""

    def __init__(
        self, path: Path, batch_size: int, fmt: CsvFormat, resume_state: Any | None
    ) -> None:
        self._path = path
        self._batch_size = batch_size
        self._format = fmt
        self._types = dict(fmt.types) if fmt.types else None
        self._file: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - held until close()
        self._offset = self._line = 0
        self._pending: list[str] = []  # raw lines of the row being parsed
        self._undecodable = False
        # csv.reader pulls exactly the lines of one row per next(), so the byte
        # offset counted by _lines() is exact after every row.
        self._source_lines = self._lines()
        self._reader = self._new_reader()
        self._fields = tuple(fmt.fieldnames) if fmt.fieldnames else None
        self._header_problem: str | None = None
        if fmt.header:
            self._read_header()
        start, line = read_position(resume_state)
        if start > self._offset:
            self._file.seek(start)
            self._offset, self._line = start, line

    def _new_reader(self) -> Iterator[list[str]]:
        return csv.reader(self._source_lines, **self._format.dialect())

    def _lines(self) -> Iterator[str]:
        encoding = self._format.encoding
        while self._file is not None:
            raw = self._file.readline()
            if not raw:
                return
            self._offset += len(raw)
            self._line += 1
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                text = raw.decode(encoding, "surrogateescape")
                self._undecodable = True
            self._pending.append(text)
            yield text

    def _read_header(self) -> None:
        for row in self._reader:
            self._pending.clear()
            if not row:
                continue
            if self._undecodable:
                self._header_problem = f"its header is not valid {self._format.encoding} text"
            elif len(set(row)) != len(row):
                dupes = sorted({name for name in row if row.count(name) > 1})
                self._header_problem = f"its header repeats the column names {dupes}"
            self._undecodable = False
            if self._fields is None:
                self._fields = tuple(row)
            return

    def next_batch(self) -> Batch:
        """Up to ``batch_size`` rows; ``StopIteration`` at the end of the file."""
        if self._file is None or self._fields is None:
            self.close()
            raise StopIteration
        batch: list[Any] = []
        while len(batch) < self._batch_size:
            first_line = self._line + 1
            try:
                row = next(self._reader)
            except StopIteration:
                break
            except csv.Error as exc:
                batch.append(self._bad(first_line, f"not valid CSV: {exc}"))
                self._reader = self._new_reader()  # the old one may hold half a row
                continue
            if row:
                batch.append(self._record(row, first_line))
            else:
                self._pending.clear()
        else:
            return batch
        if not batch:
            self.close()
            raise StopIteration
        return batch

    def _record(self, row: list[str], line: int) -> Any:
        problem = self._row_problem(row)
        if problem is None:
            record = dict(zip(self._fields or (), row, strict=True))
            problem = self._apply_types(record)
            if problem is None:
                self._pending.clear()
                return record
        return self._bad(line, problem)

    def _row_problem(self, row: list[str]) -> str | None:
        fields = self._fields or ()
        if self._header_problem:
            return f"the file cannot be read as records: {self._header_problem}"
        if self._undecodable:
            return f"not valid {self._format.encoding} text"
        if len(row) != len(fields):
            return f"expected {len(fields)} fields {list(fields)}, got {len(row)}"
        return None

    def _apply_types(self, record: dict[str, Any]) -> str | None:
        for name, convert in (self._types or {}).items():
            text = record.get(name)
            if text is None:
                continue
            try:
                record[name] = _convert(convert, text)
            except (TypeError, ValueError) as exc:
                return f"column '{name}': {exc}"
        return None

    def _bad(self, line: int, reason: str) -> BadRecord:
        text = "".join(self._pending).rstrip("\r\n")
        encoding = self._format.encoding
        raw = text.encode(encoding, "surrogateescape").decode(encoding, "backslashreplace")
        self._pending.clear()
        self._undecodable = False
        return BadRecord(str(self._path), f"line {line}", raw, reason)

    def snapshot(self) -> tuple[int, int]:
        """``(byte offset, line number)`` just after the last row returned."""
        return self._offset, self._line

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _convert(convert: Converter, text: str) -> Any:
    if convert is str:
        return text
    if text == "":
        return None
    if convert is bool:
        return parse_bool(text)
    return convert(text)
