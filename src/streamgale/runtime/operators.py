"""Runtime logic of the stateless operators and of ``batch``.

Per-record operators catch what the user function raises for one record and
hand that record to the dead-letter store; the rest of the batch goes on.
A vectorised function that raises sends its whole batch there instead, since
there is no way to tell which row was at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from streamgale.batch import Batch, iter_rows
from streamgale.runtime.logic import Emit, StepContext, StepLogic

__all__ = [
    "BatchLogic",
    "BranchLogic",
    "FilterLogic",
    "FlatMapLogic",
    "MapBatchesLogic",
    "MapLogic",
    "PassThroughLogic",
]


def _emit(port: int, batch: Batch) -> Emit:
    return [(port, batch)] if len(batch) else []


class MapLogic(StepLogic):
    """Applies ``fn`` to each record."""

    def __init__(self, ctx: StepContext, fn: Callable[[Any], Any]) -> None:
        self._ctx = ctx
        self._fn = fn

    def on_batch(self, port: int, batch: Batch) -> Emit:
        fn = self._fn
        try:
            # Fast path: one list comprehension; only on failure do we pay for
            # finding which record raised.
            return _emit(0, [fn(r) for r in iter_rows(batch)])
        except Exception:
            return _emit(0, self._one_by_one(batch))

    def _one_by_one(self, batch: Batch) -> list[Any]:
        out = []
        for record in iter_rows(batch):
            try:
                out.append(self._fn(record))
            except Exception as exc:
                self._ctx.dead_letter(record, exc)
        return out


class FilterLogic(StepLogic):
    """Keeps records for which ``predicate`` is true."""

    def __init__(self, ctx: StepContext, predicate: Callable[[Any], bool]) -> None:
        self._ctx = ctx
        self._predicate = predicate

    def on_batch(self, port: int, batch: Batch) -> Emit:
        out = []
        for record in iter_rows(batch):
            try:
                if self._predicate(record):
                    out.append(record)
            except Exception as exc:
                self._ctx.dead_letter(record, exc)
        return _emit(0, out)


class FlatMapLogic(StepLogic):
    """Replaces each record by the records ``fn`` returns for it."""

    def __init__(self, ctx: StepContext, fn: Callable[[Any], Iterable[Any]]) -> None:
        self._ctx = ctx
        self._fn = fn

    def on_batch(self, port: int, batch: Batch) -> Emit:
        out: list[Any] = []
        for record in iter_rows(batch):
            try:
                out.extend(self._fn(record))
            except Exception as exc:
                self._ctx.dead_letter(record, exc)
        return _emit(0, out)


class MapBatchesLogic(StepLogic):
    """Applies a vectorised ``fn`` to whole micro-batches."""

    def __init__(self, ctx: StepContext, fn: Callable[[Batch], Batch]) -> None:
        self._ctx = ctx
        self._fn = fn

    def on_batch(self, port: int, batch: Batch) -> Emit:
        try:
            result = self._fn(batch)
        except Exception as exc:
            self._ctx.dead_letter(batch, exc, batch=True)
            return []
        return _emit(0, result)


class PassThroughLogic(StepLogic):
    """Forwards every input unchanged: ``key_by`` and ``merge``."""

    def on_batch(self, port: int, batch: Batch) -> Emit:
        return _emit(0, batch)


class BranchLogic(StepLogic):
    """Port 0 gets records for which ``predicate`` is true, port 1 the others."""

    def __init__(self, ctx: StepContext, predicate: Callable[[Any], bool]) -> None:
        self._ctx = ctx
        self._predicate = predicate

    def on_batch(self, port: int, batch: Batch) -> Emit:
        trues: list[Any] = []
        falses: list[Any] = []
        for record in iter_rows(batch):
            try:
                (trues if self._predicate(record) else falses).append(record)
            except Exception as exc:
                self._ctx.dead_letter(record, exc)
        return _emit(0, trues) + _emit(1, falses)


@dataclass
class _Pending:
    records: list[Any]
    opened_at: float


class BatchLogic(StepLogic):
    """Groups records into lists of at most ``max_size``, waiting at most ``max_wait`` s.

    With ``key`` set, records are grouped per key, and each list holds one
    key's records. The lists not yet emitted are state and are snapshotted.
    """

    def __init__(
        self,
        ctx: StepContext,
        max_size: int,
        max_wait: float,
        key: Callable[[Any], Hashable] | None,
        resume_state: dict[Hashable, list[Any]] | None,
    ) -> None:
        self._ctx = ctx
        self._max_size = max_size
        self._max_wait = max_wait
        self._key = key
        now = ctx.clock.now()
        self._pending = {k: _Pending(list(v), now) for k, v in (resume_state or {}).items()}

    def on_batch(self, port: int, batch: Batch) -> Emit:
        now = self._ctx.clock.now()
        ready: list[list[Any]] = []
        for record in iter_rows(batch):
            group = self._key(record) if self._key else None
            pending = self._pending.get(group)
            if pending is None:
                pending = self._pending[group] = _Pending([], now)
            pending.records.append(record)
            if len(pending.records) >= self._max_size:
                ready.append(pending.records)
                del self._pending[group]
        return _emit(0, ready)

    def next_awake(self) -> float | None:
        if not self._pending:
            return None
        return min(p.opened_at for p in self._pending.values()) + self._max_wait

    def on_tick(self, now: float) -> Emit:
        due = [k for k, p in self._pending.items() if p.opened_at + self._max_wait <= now]
        return _emit(0, [self._pending.pop(k).records for k in due])

    def on_eof(self) -> Emit:
        ready = [p.records for p in self._pending.values()]
        self._pending.clear()
        return _emit(0, ready)

    def snapshot(self) -> dict[Hashable, list[Any]]:
        return {k: list(p.records) for k, p in self._pending.items()}
