"""Shared helpers for the windowing tests: drive a logic and collect what it emits."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from streamgale.batch import Batch, ColumnBatch
from streamgale.runtime.logic import Emit, StepLogic


def rows_of(batch: Batch) -> list[Any]:
    """Records of a batch as Python values (ColumnBatch rows become dicts)."""
    return batch.to_rows() if isinstance(batch, ColumnBatch) else list(batch)


class Collected:
    """Everything a logic emitted, per port, as rows; and the batches themselves."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, Batch]] = []

    def add(self, emitted: Emit) -> Emit:
        self.batches.extend(emitted)
        return emitted

    def port(self, port: int) -> list[Any]:
        return [row for p, batch in self.batches if p == port for row in rows_of(batch)]

    @property
    def results(self) -> list[Any]:
        return self.port(0)

    @property
    def late(self) -> list[Any]:
        return self.port(1)


def run(logic: StepLogic, batches: Iterable[Batch], eof: bool = True) -> Collected:
    """Feed batches to port 0, then end the input."""
    out = Collected()
    for batch in batches:
        out.add(logic.on_batch(0, batch))
    if eof:
        out.add(logic.on_eof())
    return out


def split(records: Sequence[Any], cuts: Sequence[int]) -> list[list[Any]]:
    """Cut a record list at the given positions (sorted, deduplicated, in range)."""
    points = [0, *sorted({c for c in cuts if 0 < c < len(records)}), len(records)]
    return [list(records[a:b]) for a, b in itertools.pairwise(points)]


def columns(records: Sequence[dict[str, Any]], dtypes: dict[str, Any] | None = None) -> ColumnBatch:
    """Dict records as a ColumnBatch (optionally forcing dtypes per column)."""
    dtypes = dtypes or {}
    names = list(records[0])
    return ColumnBatch({n: np.asarray([r[n] for r in records], dtypes.get(n)) for n in names})


def events(*spec: tuple[float, Any, float]) -> list[dict[str, Any]]:
    """Records {"t", "k", "v"} from (time, key, value) tuples."""
    return [{"t": t, "k": k, "v": v} for t, k, v in spec]
