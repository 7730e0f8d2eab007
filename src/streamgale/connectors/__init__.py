"""Sources and sinks: files, the durable log, HTTP ingest and stdout.

Every connector follows the contract in :mod:`streamgale.connectors.base`.
"""

from streamgale.connectors.base import (
    BadRecord,
    BuildContext,
    Sink,
    SinkPartition,
    Source,
    SourcePartition,
)
from streamgale.connectors.files import (
    CsvFormat,
    CsvSink,
    CsvSource,
    DirectorySource,
    JsonLinesSink,
    JsonLinesSource,
    ParquetSink,
    ParquetSource,
)
from streamgale.connectors.http import HttpSource
from streamgale.connectors.log import LogSink, LogSource
from streamgale.connectors.stdout import StdOutSink

__all__ = [
    "BadRecord",
    "BuildContext",
    "CsvFormat",
    "CsvSink",
    "CsvSource",
    "DirectorySource",
    "HttpSource",
    "JsonLinesSink",
    "JsonLinesSource",
    "LogSink",
    "LogSource",
    "ParquetSink",
    "ParquetSource",
    "Sink",
    "SinkPartition",
    "Source",
    "SourcePartition",
    "StdOutSink",
]
