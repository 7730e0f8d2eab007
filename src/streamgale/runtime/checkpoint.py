"""Checkpoint plumbing of the local runtime: snapshots, stores and replay targets."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from streamgale.deadletter.store import DeadLetterStore
from streamgale.runtime.graph import Channel, Node, OpNode, SinkNode, SourceNode, Watermark
from streamgale.state.base import Snapshot, StateStore

__all__ = [
    "collect_snapshot",
    "has_batches",
    "input_channels",
    "open_stores",
    "queued_picklable",
    "replay_channel",
    "restore_channels",
]


def collect_snapshot(nodes: list[Node], epoch: int) -> Snapshot:
    """One snapshot of every source position, step state, sink position and queued batch.

    Every value is copied through pickle: the snapshot is written by another
    thread while the steps keep changing their live state, and an unpicklable
    state fails here, at the checkpoint, not later in the writer.
    """
    sources, steps, sinks = {}, {}, {}
    channels = {
        key: _detached(list(channel.items))
        for key, channel in input_channels(nodes)
        if channel.items
    }
    for node in nodes:
        if isinstance(node, SourceNode):
            for part in node.parts:
                sources[f"{node.step_id}/{part.name}"] = _detached(part.partition.snapshot())
        elif isinstance(node, OpNode) and node.logic is not None:
            steps[node.step_id] = _detached(node.logic.snapshot())
        elif isinstance(node, SinkNode):
            for name, sink_part in node.parts:
                sinks[f"{node.step_id}/{name}"] = _detached(sink_part.snapshot())
    return Snapshot(epoch=epoch, sources=sources, steps=steps, sinks=sinks, channels=channels)


def queued_picklable(nodes: list[Node]) -> bool:
    """Whether what is queued in channels can be saved in a snapshot (plain data can;
    a pipeline may pass open handles or locks between steps, which cannot)."""
    try:
        for _, channel in input_channels(nodes):
            if channel.items:
                pickle.dumps(list(channel.items), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # pickling raises many types: TypeError, PicklingError, ...
        return False
    return True


def input_channels(nodes: list[Node]) -> list[tuple[str, Channel]]:
    """Every channel, named ``"<step_id>/<port>"`` after the step that reads it."""
    named = []
    for node in nodes:
        if isinstance(node, OpNode):
            named += [(f"{node.step_id}/{port}", ch) for port, ch in enumerate(node.inputs)]
        elif isinstance(node, SinkNode) and node.input is not None:
            named.append((f"{node.step_id}/0", node.input))
    return named


def restore_channels(nodes: list[Node], snapshot: Snapshot) -> None:
    """Queue again what a snapshot saved in the channels, ahead of anything new."""
    for key, channel in input_channels(nodes):
        for item in snapshot.queued(key):
            if isinstance(item, Watermark):
                channel.items.append(item)
                channel.sent_watermark = max(channel.sent_watermark, item.value)
            else:
                channel.push(item)


def _detached(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bytes):
        return value
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def has_batches(node: Node) -> bool:
    if isinstance(node, OpNode):
        return node.pending_input()
    if isinstance(node, SinkNode):
        return bool(node.input and node.input.items)
    return False


def replay_channel(node: Node | None) -> Channel | None:
    if isinstance(node, OpNode) and node.inputs:
        return node.inputs[0]
    if isinstance(node, SinkNode):
        return node.input
    return None


def open_stores(state_dir: Path | None) -> tuple[StateStore, DeadLetterStore]:
    if state_dir is None:
        from streamgale.state.memory import MemoryStateStore

        return MemoryStateStore(), DeadLetterStore(None)
    from streamgale.state.file import FileStateStore

    state_dir.mkdir(parents=True, exist_ok=True)
    return FileStateStore(state_dir / "snapshots"), DeadLetterStore(
        state_dir / "deadletters.sqlite"
    )
