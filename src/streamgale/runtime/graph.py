"""The runnable graph: nodes for steps, bounded channels for the edges.

A :class:`Channel` holds micro-batches between two steps. It is bounded:
a node only takes input while every channel it writes to has room, and a
source is only polled while its channels have room. A slow sink therefore
stops the steps before it, which stop the sources: backpressure reaches all
the way back and memory stays bounded.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamgale.batch import Batch
from streamgale.connectors.base import SinkPartition, SourcePartition
from streamgale.runtime.logic import NO_WATERMARK, Emit, StepLogic

__all__ = ["Channel", "Node", "OpNode", "SinkNode", "SourceNode", "Watermark"]


@dataclass(frozen=True, slots=True)
class Watermark:
    """An event-time watermark travelling in a channel, behind the batches it follows."""

    value: float


@dataclass(eq=False)
class Channel:
    """A bounded FIFO from one output port to one input port.

    Watermarks travel in-band, in order with the batches: a consumer sees a
    watermark only after every batch emitted before it, so a downstream window
    can never close before it has seen the records that belong in it.
    """

    src: str
    dst: str
    capacity: int
    items: deque[Batch | Watermark] = field(default_factory=deque)
    queued: int = 0
    """Batches (not watermarks) in ``items``; what the capacity bounds."""
    closed: bool = False
    """The upstream step has ended: no more batches will arrive."""
    sent_watermark: float = NO_WATERMARK

    def has_room(self) -> bool:
        return self.queued < self.capacity

    def push(self, batch: Batch) -> None:
        self.items.append(batch)
        self.queued += 1

    def push_watermark(self, value: float) -> None:
        if value <= self.sent_watermark:
            return
        self.sent_watermark = value
        if self.items and isinstance(self.items[-1], Watermark):
            self.items[-1] = Watermark(value)  # nothing between them: keep the newer
        else:
            self.items.append(Watermark(value))

    def pop(self) -> Batch | Watermark:
        item = self.items.popleft()
        if not isinstance(item, Watermark):
            self.queued -= 1
        return item

    @property
    def drained(self) -> bool:
        return self.closed and not self.items


@dataclass(eq=False)
class Node:
    """What every node has: an id and the channels of each output port.

    ``orphans`` receives batches emitted on a side-output port that no step
    reads (late records, failures), so they are kept, never silently dropped.
    """

    step_id: str
    outputs: list[list[Channel]]
    done: bool = False
    orphans: Callable[[int, Batch], None] | None = None

    def has_room(self) -> bool:
        return all(ch.has_room() for port in self.outputs for ch in port)

    def route(self, emit: Emit) -> int:
        """Push emitted batches to the output channels; returns records emitted."""
        n = 0
        for port, batch in emit:
            channels = self.outputs[port]
            for channel in channels:
                channel.push(batch)
            if not channels and self.orphans is not None:
                self.orphans(port, batch)
            n += len(batch)
        return n

    def set_watermark(self, watermark: float) -> None:
        for port in self.outputs:
            for channel in port:
                channel.push_watermark(watermark)

    def close_outputs(self) -> None:
        self.set_watermark(math.inf)
        for port in self.outputs:
            for channel in port:
                channel.closed = True


@dataclass(eq=False)
class SourcePart:
    name: str
    partition: SourcePartition[Any]
    awake_at: float | None = None
    """Do not poll before this time (set after an empty poll)."""
    exhausted: bool = False


@dataclass(eq=False)
class SourceNode(Node):
    parts: list[SourcePart] = field(default_factory=list)


@dataclass(eq=False)
class OpNode(Node):
    logic: StepLogic | None = None
    inputs: list[Channel] = field(default_factory=list)
    input_watermark: float = NO_WATERMARK
    """The minimum over inputs of the last watermark each delivered."""
    port_watermarks: list[float] = field(default_factory=list)
    op: str = ""

    def pending_input(self) -> bool:
        return any(ch.items for ch in self.inputs)

    def inputs_drained(self) -> bool:
        return all(ch.drained for ch in self.inputs)


@dataclass(eq=False)
class SinkNode(Node):
    parts: list[tuple[str, SinkPartition[Any]]] = field(default_factory=list)
    input: Channel | None = None
    next_part: int = 0
