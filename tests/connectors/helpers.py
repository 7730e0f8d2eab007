"""Helpers for the connector tests."""

from __future__ import annotations

from typing import Any

from streamgale.batch import iter_rows
from streamgale.connectors.base import SourcePartition


def drain(part: SourcePartition[Any], max_batches: int = 10_000) -> list[list[Any]]:
    """Every batch a finite partition returns, as lists of records, until StopIteration."""
    batches: list[list[Any]] = []
    for _ in range(max_batches):
        try:
            batch = part.next_batch()
        except StopIteration:
            return batches
        batches.append(list(iter_rows(batch)))
    raise AssertionError(f"partition did not end after {max_batches} batches")
