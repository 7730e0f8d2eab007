"""The contract between the runtime and the logic of one step.

The dataflow API (``streamgale.dataflow``) only describes steps. When a
pipeline runs, each step description builds a :class:`StepLogic`, which the
runtime drives from a single thread:

* :meth:`StepLogic.on_batch` for every micro-batch arriving on an input port;
* :meth:`StepLogic.on_watermark` when the event-time watermark coming from
  upstream advances;
* :meth:`StepLogic.on_tick` when processing time reaches
  :meth:`StepLogic.next_awake` (an idle source's watermark timer, a batch's
  maximum wait);
* :meth:`StepLogic.on_eof` once every input has ended;
* :meth:`StepLogic.snapshot` at each checkpoint, and the builder receives that
  value back on restart.

Each call returns the micro-batches to emit as ``(output_port, batch)``
pairs. Time comes from an injected :class:`Clock`, never from an inline
``time.time()``, so tests can drive it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from streamgale.batch import Batch

__all__ = [
    "NO_WATERMARK",
    "Clock",
    "DeadLetterFn",
    "Emit",
    "LogicFactory",
    "ManualClock",
    "StepContext",
    "StepLogic",
    "SystemClock",
]

Emit: TypeAlias = list[tuple[int, Batch]]
"""Micro-batches a step emits, each tagged with its output port."""

NO_WATERMARK = float("-inf")
"""The watermark before any event time is known."""


class Clock(Protocol):
    """Processing time, in seconds, on a monotonic scale."""

    def now(self) -> float: ...


class SystemClock:
    """The real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock tests move by hand.

    >>> clock = ManualClock(10.0)
    >>> clock.advance(2.5)
    >>> clock.now()
    12.5
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, now: float) -> None:
        self._now = now


class StepLogic(ABC):
    """Runtime logic of one step; see the module docstring for the call order."""

    @abstractmethod
    def on_batch(self, port: int, batch: Batch) -> Emit:
        """Process one micro-batch from input ``port``."""

    def on_watermark(self, watermark: float) -> Emit:
        """The upstream event-time watermark advanced to ``watermark``."""
        return []

    def watermark(self) -> float:
        """The event-time watermark this step passes downstream."""
        return NO_WATERMARK

    def next_awake(self) -> float | None:
        """Processing time (the clock's scale) of the next :meth:`on_tick`, if any."""
        return None

    def on_tick(self, now: float) -> Emit:
        """Processing time reached :meth:`next_awake`."""
        return []

    def on_eof(self) -> Emit:
        """Every input ended: emit whatever is still held (close all windows)."""
        return []

    def drain(self) -> Emit:
        """Finish asynchronous work now (batches out in worker processes).

        Called before a checkpoint, so that a snapshot never misses a batch
        that has left the input channel but not yet reached the output.
        """
        return []

    def snapshot(self) -> Any:
        """Picklable state to resume from; ``None`` for stateless steps."""
        return None


class DeadLetterFn(Protocol):
    """Hands one failed record, or a whole batch with ``batch=True``, to the
    dead-letter store together with the error."""

    def __call__(self, payload: Any, error: BaseException, *, batch: bool = False) -> None: ...


@dataclass(frozen=True)
class StepContext:
    """What the runtime gives a step's logic when it builds it."""

    step_id: str
    clock: Clock
    dead_letter: DeadLetterFn


class LogicFactory(Protocol):
    """Builds a step's logic from the context and its last snapshot (or None)."""

    def __call__(self, ctx: StepContext, resume_state: Any | None, /) -> StepLogic: ...
