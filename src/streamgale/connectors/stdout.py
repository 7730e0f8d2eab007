"""A sink printing one line per record on standard output, for demos and debugging.

>>> import threading
>>> from pathlib import Path
>>> from streamgale.connectors.base import BuildContext
>>> out = StdOutSink().build_part(BuildContext("print", Path("."), threading.Event()), "0", None)
>>> out.write_batch([{"a": 1}, "text"])
{"a":1}
"text"
"""

from __future__ import annotations

import sys
from typing import Any, Literal

from streamgale.batch import Batch, iter_rows
from streamgale.connectors.base import BuildContext, Sink, SinkPartition
from streamgale.connectors.jsonenc import to_json
from streamgale.errors import ConfigError

__all__ = ["StdOutSink", "StdOutSinkPartition"]

OutputFormat = Literal["json", "repr"]


class StdOutSink(Sink[Any]):
    """Print each record on its own line: as compact JSON (default) or its ``repr``.

    Rows of a :class:`~streamgale.batch.ColumnBatch` are printed as JSON
    objects. Output goes to whatever ``sys.stdout`` is when the batch is
    written, so redirection and test capture work. Printing is not
    transactional: after a crash, records since the last checkpoint are
    printed again.
    """

    def __init__(self, format: OutputFormat = "json") -> None:
        if format not in ("json", "repr"):
            raise ConfigError(
                f"unknown output format {format!r}; use 'json' or 'repr'", key="format"
            )
        self.format: OutputFormat = format

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> StdOutSinkPartition:
        """A writer to standard output; there is no position to resume."""
        return StdOutSinkPartition(self.format)


class StdOutSinkPartition(SinkPartition[Any]):
    """Writes each batch with one ``write`` call, so batches never interleave."""

    def __init__(self, format: OutputFormat) -> None:
        self._encode = to_json if format == "json" else repr

    def write_batch(self, batch: Batch) -> None:
        """Print one line per record; a record that cannot be encoded prints nothing."""
        lines = [self._encode(record) for record in iter_rows(batch)]
        if lines:
            lines.append("")
            sys.stdout.write("\n".join(lines))

    def flush(self) -> None:
        """Flush standard output."""
        sys.stdout.flush()
