"""Fakes for tests, shipped for users too.

:class:`TestingSource` replays a list, and :class:`TestingSink` collects into
one. Two markers in a source's items drive crash-and-resume tests:

* :attr:`TestingSource.EOF` ends the partition there, as if the input ran out.
  The next run resumes after the marker.
* :attr:`TestingSource.ABORT` makes the run fail there, before the items that
  follow. Nothing after the last checkpoint is committed. The next run with
  the same state directory resumes from that checkpoint and passes the
  marker (each ABORT fires once per state directory).

>>> from streamgale import Pipeline
>>> out = []
>>> p = Pipeline("t")
>>> p.source("in", TestingSource([1, 2, TestingSource.EOF, 3])).sink("out", TestingSink(out))
>>> p.run()
>>> out
[1, 2]
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from streamgale.batch import Batch, ColumnBatch
from streamgale.connectors.base import BuildContext, Sink, SinkPartition, Source, SourcePartition
from streamgale.errors import StreamGaleError

if TYPE_CHECKING:
    from streamgale.dataflow.stream import Stream

__all__ = ["TestingAbortError", "TestingSink", "TestingSource", "run_to_list"]

T = TypeVar("T")


class _Marker(enum.Enum):
    EOF = "EOF"
    ABORT = "ABORT"


class TestingAbortError(StreamGaleError):
    """Raised by :attr:`TestingSource.ABORT` to simulate a crash."""

    __test__ = False


class TestingSource(Source[T], Generic[T]):
    """A single-partition source replaying ``items``.

    ``batch_size`` records go in each micro-batch. With ``batches=True``, each
    item is already a micro-batch (a list or a ColumnBatch) and is emitted as
    is; markers then stand between batches.
    """

    __test__ = False  # not a pytest test class
    EOF = _Marker.EOF
    ABORT = _Marker.ABORT

    def __init__(
        self, items: Sequence[Any], batch_size: int = 1024, *, batches: bool = False
    ) -> None:
        self.items = list(items)
        self.batch_size = batch_size
        self.batches = batches

    def list_parts(self) -> list[str]:
        return ["0"]

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> SourcePartition[T]:
        return _TestingPartition(self, ctx, int(resume_state or 0))


class _TestingPartition(SourcePartition[T]):
    def __init__(self, source: TestingSource[T], ctx: BuildContext, index: int) -> None:
        self._items = source.items
        self._size = 1 if source.batches else source.batch_size
        self._batches = source.batches
        self._ctx = ctx
        self._index = index

    def next_batch(self) -> Batch:
        items = self._items
        if self._index >= len(items):
            raise StopIteration
        chunk: list[Any] = []
        while self._index < len(items) and len(chunk) < self._size:
            item = items[self._index]
            if item is _Marker.EOF or item is _Marker.ABORT:
                if chunk:
                    break  # emit what came before; the marker acts on the next call
                if item is _Marker.EOF:
                    self._index += 1
                    raise StopIteration
                self._abort(self._index)
                self._index += 1
                continue
            chunk.append(item)
            self._index += 1
        if self._batches:
            return chunk[0] if chunk else []
        return chunk

    def _abort(self, index: int) -> None:
        fired = self._ctx.state_dir / f"abort-{index}.fired"
        if not fired.exists():
            fired.touch()
            raise TestingAbortError(f"TestingSource.ABORT at item {index}")

    def snapshot(self) -> int:
        return self._index


class TestingSink(Sink[T], Generic[T]):
    """Appends every record to ``out`` (rows of a ColumnBatch as dicts).

    With ``as_batches=True`` it appends each micro-batch as it arrived
    instead, which keeps columnar output columnar (and fast).

    Not durable, so use it in one process; crash tests across processes use a
    file sink such as :class:`~streamgale.connectors.JsonLinesSink`.
    """

    __test__ = False

    def __init__(self, out: list[Any], *, as_batches: bool = False) -> None:
        self.out = out
        self.as_batches = as_batches

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> SinkPartition[T]:
        return _TestingSinkPartition(self.out, self.as_batches)


class _TestingSinkPartition(SinkPartition[T]):
    def __init__(self, out: list[Any], as_batches: bool) -> None:
        self._out = out
        self._as_batches = as_batches

    def write_batch(self, batch: Batch) -> None:
        if self._as_batches:
            self._out.append(batch)
            return
        self._out.extend(batch.to_rows() if isinstance(batch, ColumnBatch) else batch)


def run_to_list(stream: Stream[T]) -> list[T]:
    """Sink ``stream`` into a list, run its pipeline in memory, return the list."""
    out: list[T] = []
    pipeline = stream.pipeline
    stream.sink(f"_run_to_list_{len(pipeline.steps)}", TestingSink(out))
    pipeline.run()
    return out
