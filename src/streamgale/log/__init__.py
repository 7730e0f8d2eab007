"""The durable log: topics of partitions of records, numbered by offset.

:class:`SegmentLog` is the embedded, durable default (segment files on the
local disk); :class:`MemoryLog` has the same contract and keeps nothing.

>>> log = MemoryLog()
>>> log.create_topic("events", partitions=1)
>>> log.append("events", 0, [b"hello"])
0
>>> log.read("events", 0, 0, 10)[0].payload
b'hello'
"""

from streamgale.log.base import FsyncPolicy, Log, LogRecord, Retention
from streamgale.log.memory import MemoryLog
from streamgale.log.segment import SegmentLog

__all__ = ["FsyncPolicy", "Log", "LogRecord", "MemoryLog", "Retention", "SegmentLog"]
