"""Retention of received instances: how long the instance store keeps what it was sent.

Received instances hold PHI. A :class:`RetentionPolicy` bounds them by age
(purge what was received more than ``max_age`` seconds ago) and by size
(purge the oldest until the store holds at most ``max_bytes``). Only
instances the pipeline is done with are ever purged: an instance is in
flight until it is marked processed (its result was built, or no model
was asked about it) or it ended in the quarantine (which keeps its own
copy). An instance in flight is kept whatever its age, and counted in
:attr:`PurgeReport.kept_in_flight`.

The running service applies its policy every ``interval`` seconds;
``streamgale store purge`` applies one on demand, also while it runs
(the index is SQLite in WAL mode; a purged instance resent later is simply
stored anew).

>>> RetentionPolicy(max_age=30 * 86400).max_bytes is None
True
>>> RetentionPolicy(max_age=0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
streamgale.errors.ConfigError: key 'max_age': ...
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamgale.dicom.ingest.events import InstanceEvent
from streamgale.dicom.ingest.index import InstanceIndex
from streamgale.errors import ConfigError

__all__ = ["SIZE_FORMATS", "PurgeReport", "RetentionPolicy", "parse_size", "purge_instances"]

logger = logging.getLogger("streamgale.dicom.ingest")


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
SIZE_FORMATS = "a number of bytes or a size such as 500MB, 2GiB, 1TB"


def parse_size(value: object) -> int:
    """Bytes in ``500MB``, ``2GiB``, ``1.5TB`` or a whole number; ValueError otherwise.

    >>> parse_size("2GiB"), parse_size("500MB"), parse_size(4096)
    (2147483648, 500000000, 4096)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise ValueError(f"{value!r} is not a size; use {SIZE_FORMATS}")
    return int(float(found.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class RetentionPolicy:
    """How long processed instances are kept; None means no limit of that kind.

    ``max_age``: seconds after receipt. ``max_bytes``: the store's total
    size, oldest purged first. ``interval``: seconds between two purges in a
    running service.
    """

    max_age: float | None = None
    max_bytes: int | None = None
    interval: float = 3600.0

    def __post_init__(self) -> None:
        for key in ("max_age", "max_bytes", "interval"):
            value = getattr(self, key)
            if value is None and key != "interval":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"must be a positive number, got {value!r}", key=key)

    @property
    def limited(self) -> bool:
        """Whether the policy purges anything at all."""
        return self.max_age is not None or self.max_bytes is not None


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed (or, in a dry run, would remove) and what it kept."""

    purged: tuple[InstanceEvent, ...]
    kept_in_flight: int
    """Instances past the policy but not processed yet: kept."""
    kept: int
    kept_bytes: int
    dry_run: bool

    @property
    def purged_bytes(self) -> int:
        """Bytes freed (or that would be)."""
        return sum(e.size for e in self.purged)


def purge_instances(
    index: InstanceIndex,
    policy: RetentionPolicy,
    *,
    now: float,
    dry_run: bool = False,
    quarantined: Callable[[InstanceEvent], bool] | None = None,
) -> PurgeReport:
    """Apply ``policy`` to the instances of ``index``; delete their rows and files.

    ``quarantined`` says whether an instance ended in the quarantine (it
    then counts as processed). The row goes before the file, so a crash in
    between leaves at worst an unreferenced file, never a row without one.
    """
    rows = sorted(index.retention_rows(), key=lambda row: row[0].received_at)
    total = sum(event.size for event, _ in rows)
    purged: list[InstanceEvent] = []
    in_flight = 0
    for event, processed in rows:
        too_old = policy.max_age is not None and event.received_at < now - policy.max_age
        too_big = policy.max_bytes is not None and total > policy.max_bytes
        if not (too_old or too_big):
            continue
        if not (processed or (quarantined is not None and quarantined(event))):
            in_flight += 1
            continue
        purged.append(event)
        total -= event.size
        if not dry_run:
            index.forget(event.sop_instance_uid)
            Path(event.path).unlink(missing_ok=True)
    if purged and not dry_run:
        logger.info("retention purged %d received instances", len(purged))
    return PurgeReport(
        purged=tuple(purged),
        kept_in_flight=in_flight,
        kept=len(rows) - len(purged),
        kept_bytes=total,
        dry_run=dry_run,
    )
