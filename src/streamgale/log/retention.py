"""The retention rule, shared by every log backend so they drop the same things.

A partition is a run of segments, oldest first; the last one is active and
never dropped. Closed segments are dropped oldest first while the partition
is over its byte budget or the segment's newest record is older than the age
limit, but never a segment holding a record at or past ``keep_from`` (the
lowest offset any consumer group committed): a group that has not yet
processed a record must still be able to read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from streamgale.log.base import Retention

__all__ = ["SegmentView", "count_droppable"]


class SegmentView(Protocol):
    """What the retention rule needs to know about one closed segment."""

    @property
    def end_offset(self) -> int:
        """Offset just past the segment's last record."""

    @property
    def size_bytes(self) -> int:
        """Bytes the segment occupies."""

    def newest_timestamp(self) -> float | None:
        """Append time of the segment's last record; None when it is empty."""


def count_droppable(
    closed: Sequence[SegmentView],
    total_bytes: int,
    retention: Retention,
    now: float,
    keep_from: int | None,
) -> int:
    """How many of the oldest ``closed`` segments ``retention`` drops.

    ``total_bytes`` is the size of the whole partition, active segment included.

    >>> class Seg:
    ...     def __init__(self, end, ts):
    ...         self.end_offset, self.size_bytes, self._ts = end, 100, ts
    ...     def newest_timestamp(self):
    ...         return self._ts
    >>> segs = [Seg(10, 1.0), Seg(20, 2.0), Seg(30, 3.0)]
    >>> count_droppable(segs, 400, Retention(max_bytes=250), now=3.0, keep_from=None)
    2
    >>> count_droppable(segs, 400, Retention(max_age_s=1.5), now=3.6, keep_from=None)
    2
    >>> count_droppable(segs, 400, Retention(max_bytes=0), now=3.0, keep_from=15)
    1
    """
    dropped = 0
    for segment in closed:
        if keep_from is not None and segment.end_offset > keep_from:
            break
        over_budget = retention.max_bytes is not None and total_bytes > retention.max_bytes
        if not over_budget and not _expired(segment, retention, now):
            break
        total_bytes -= segment.size_bytes
        dropped += 1
    return dropped


def _expired(segment: SegmentView, retention: Retention, now: float) -> bool:
    if retention.max_age_s is None:
        return False
    newest = segment.newest_timestamp()
    # An empty closed segment keeps nothing worth keeping.
    return newest is None or now - newest > retention.max_age_s
