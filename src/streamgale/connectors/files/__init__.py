"""File connectors: JSON Lines, CSV and Parquet sources and sinks, and a directory watcher.

Sources read a file (or every file a glob matches, one partition per file)
and resume exactly after the last batch returned. Malformed input becomes a
:class:`BadRecord` in the batch, which the runtime sends to the dead-letter
store. Sinks are transactional: their snapshot is what they made durable,
and a restart discards anything written after it.
"""

from streamgale.connectors.base import BadRecord
from streamgale.connectors.files.csvfile import CsvFormat, CsvSource
from streamgale.connectors.files.csvsink import CsvSink
from streamgale.connectors.files.dirwatch import DirectorySource
from streamgale.connectors.files.jsonl import JsonLinesSink, JsonLinesSource
from streamgale.connectors.files.parquet import ParquetSink, ParquetSource

__all__ = [
    "BadRecord",
    "CsvFormat",
    "CsvSink",
    "CsvSource",
    "DirectorySource",
    "JsonLinesSink",
    "JsonLinesSource",
    "ParquetSink",
    "ParquetSource",
]
