"""Turns a pipeline's step descriptions into runnable nodes and channels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamgale.dataflow.pipeline import output_ports, upstreams_of
from streamgale.dataflow.steps import OperatorStep, SinkStep, SourceStep, Step
from streamgale.errors import UnreadSideOutputError
from streamgale.runtime.graph import Channel, Node, OpNode, SinkNode, SourceNode, SourcePart
from streamgale.runtime.logic import NO_WATERMARK, StepContext
from streamgale.state.base import Snapshot

if TYPE_CHECKING:
    from streamgale.runtime.runner import Runtime

__all__ = ["build_graph"]


def build_graph(runtime: Runtime, snapshot: Snapshot) -> list[Node]:
    """Nodes in topological order (the order steps were added), wired by channels."""
    steps = list(runtime.pipeline)
    outputs: dict[str, list[list[Channel]]] = {
        s.step_id: [[] for _ in range(output_ports(s))] for s in steps
    }
    inputs: dict[str, list[Channel]] = {}
    capacity = runtime.config.channel_capacity
    for step in steps:
        chans = []
        for ref in upstreams_of(step):
            channel = Channel(ref.step_id, step.step_id, capacity)
            outputs[ref.step_id][ref.port].append(channel)
            chans.append(channel)
            runtime.metrics.channel(channel)
        inputs[step.step_id] = chans
    return [_node(runtime, s, outputs[s.step_id], inputs[s.step_id], snapshot) for s in steps]


def _node(
    runtime: Runtime,
    step: Step,
    outputs: list[list[Channel]],
    inputs: list[Channel],
    snapshot: Snapshot,
) -> Node:
    sid = step.step_id
    if isinstance(step, SourceStep):
        ctx = runtime.build_context(sid)
        parts = [
            SourcePart(
                name, step.source.build_part(ctx, name, snapshot.sources.get(f"{sid}/{name}"))
            )
            for name in step.source.list_parts()
        ]
        return SourceNode(sid, outputs, parts=parts)
    if isinstance(step, SinkStep):
        ctx = runtime.build_context(sid)
        sink_parts = [
            (name, step.sink.build_part(ctx, name, snapshot.sinks.get(f"{sid}/{name}")))
            for name in step.sink.list_parts()
        ]
        return SinkNode(sid, outputs, parts=sink_parts, input=inputs[0])
    assert isinstance(step, OperatorStep)
    step_ctx = StepContext(sid, runtime.clock, _dead_letter_fn(runtime, sid))
    logic = step.factory(step_ctx, snapshot.steps.get(sid))
    return OpNode(
        sid,
        outputs,
        logic=logic,
        inputs=inputs,
        port_watermarks=[NO_WATERMARK] * len(inputs),
        op=step.op,
        orphans=_orphan_fn(runtime, sid, step.ports),
    )


_KEPT_SIDE_OUTPUTS = frozenset({"late", "failed"})
"""Side outputs whose records must not vanish when no step reads them."""


def _orphan_fn(runtime: Runtime, step_id: str, ports: tuple[str, ...]) -> Any:
    def orphan(port: int, batch: Any) -> None:
        name = ports[port]
        if name in _KEPT_SIDE_OUTPUTS:
            error = UnreadSideOutputError(
                f"step '{step_id}' emitted {len(batch)} record(s) on its '{name}' output, which "
                f"no step reads; they are kept here. Sink '{step_id}' .{name} to handle them."
            )
            runtime.dead_letter(step_id, batch, error, batch=True)

    return orphan


def _dead_letter_fn(runtime: Runtime, step_id: str) -> Any:
    def dead_letter(payload: Any, error: BaseException, *, batch: bool = False) -> None:
        runtime.dead_letter(step_id, payload, error, batch=batch)

    return dead_letter
