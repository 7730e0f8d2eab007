"""Argument checks shared by every log backend, so they fail the same way.

Each check raises :class:`~streamgale.errors.LogError` (or
:class:`~streamgale.errors.OffsetOutOfRangeError`) with a message that says
what was received and what was expected.
"""

from __future__ import annotations

import re

from streamgale.errors import ConfigError, LogError, OffsetOutOfRangeError
from streamgale.log.base import Retention

__all__ = [
    "check_commit_offset",
    "check_group",
    "check_partition",
    "check_partition_count",
    "check_read",
    "check_retention",
    "check_topic_name",
]

# Topic names become directory names, so they are restricted to characters
# that are safe on every file system and cannot climb out of the log directory.
_TOPIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_topic_name(topic: str) -> None:
    """Reject topic names that are not safe as a directory name."""
    if not isinstance(topic, str) or not _TOPIC_NAME.fullmatch(topic):
        msg = (
            f"invalid topic name {topic!r}: use 1 to 200 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
        raise LogError(msg)


def check_partition_count(topic: str, partitions: int) -> None:
    """Reject a partition count that is not a positive integer."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        msg = f"topic '{topic}' needs a positive number of partitions, got {partitions!r}"
        raise LogError(msg)


def check_partition(topic: str, partition: int, count: int) -> None:
    """Reject a partition number outside ``range(count)``."""
    if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < count:
        msg = f"topic '{topic}' has partitions 0..{count - 1}, got partition {partition!r}"
        raise LogError(msg)


def check_group(group: str) -> None:
    """Reject consumer group names that are empty or not strings."""
    if not isinstance(group, str) or not group or len(group) > 200:
        msg = f"invalid consumer group {group!r}: use a non-empty string of at most 200 characters"
        raise LogError(msg)


def check_read(
    topic: str, partition: int, offset: int, max_records: int, *, start: int, end: int
) -> None:
    """Reject a read outside ``[start, end]`` or asking for no records."""
    if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
        msg = f"max_records must be a positive integer, got {max_records!r}"
        raise LogError(msg)
    if isinstance(offset, bool) or not isinstance(offset, int):
        msg = f"offset must be an integer, got {offset!r}"
        raise LogError(msg)
    if offset < start:
        msg = (
            f"offset {offset} of {topic}/{partition} was deleted by retention; "
            f"the oldest readable offset is {start}: resume from there"
        )
        raise OffsetOutOfRangeError(msg)
    if offset > end:
        msg = (
            f"offset {offset} of {topic}/{partition} is past the end ({end}); "
            "read from an offset at most end_offset()"
        )
        raise OffsetOutOfRangeError(msg)


def check_commit_offset(topic: str, partition: int, offset: int, end: int) -> None:
    """Reject committing an offset that is negative or past the end of the partition."""
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= end:
        msg = (
            f"cannot commit offset {offset!r} for {topic}/{partition}: "
            f"expected an integer from 0 to end_offset ({end})"
        )
        raise LogError(msg)


def check_retention(retention: Retention | None) -> None:
    """Reject a retention policy with negative limits."""
    if retention is None:
        return
    for key, value in (("max_bytes", retention.max_bytes), ("max_age_s", retention.max_age_s)):
        if value is not None and (isinstance(value, bool) or value < 0):
            msg = f"retention {key} must be a non-negative number or None, got {value!r}"
            raise ConfigError(msg, key=f"retention.{key}")
