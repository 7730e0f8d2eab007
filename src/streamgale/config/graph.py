"""Turns the ``sources``, ``steps`` and ``sinks`` sections into a :class:`Pipeline`.

Each step names one operator and reads one stream: ``from: <id>`` names
a source or an earlier step; without it a step reads the main output of the
step above it (the only source, for the first step). Side outputs have
dotted names: ``<window step>.late``, ``<branch step>.true`` and ``.false``.
A sink without ``from`` reads the last step's main output.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from streamgale.config.connectors import SINK_TYPES, SOURCE_TYPES, build_connector
from streamgale.config.document import Node
from streamgale.config.references import is_reference, resolve_function
from streamgale.config.windows import read_aggregations, read_window
from streamgale.dataflow import KeyedStream, Pipeline, Stream
from streamgale.dataflow.steps import check_step_id

__all__ = ["OPERATORS", "GraphBuilder"]

OPERATORS = (
    "map",
    "filter",
    "flat_map",
    "map_batches",
    "key_by",
    "batch",
    "window",
    "aggregate",
    "merge",
    "branch",
)
"""Operator keys a step may use (``window`` goes with ``aggregate``)."""

_STEP_KEYS = ("id", "from", *OPERATORS, "parallelism")
_PARALLEL_OPERATORS = ("map", "map_batches")

Outputs = dict[str, Stream[Any]]
"""Streams a step produces by port: ``""`` is the main output."""
Entries = dict[str, Node]


class GraphBuilder:
    """Adds sources, steps and sinks to ``pipeline``, resolving ``from:`` names."""

    def __init__(self, pipeline: Pipeline, base_dir: Path) -> None:
        self.pipeline = pipeline
        self.base_dir = base_dir
        self._outputs: Outputs = {}
        self._id_lines: dict[str, int] = {}
        self._default: str | None = None
        self._no_default = "the pipeline has no source"

    def add_sources(self, section: Node) -> None:
        """Add every source of the ``sources:`` mapping."""
        entries = section.mapping()
        if not entries:
            section.fail(
                "needs at least one source, for example: in: {type: jsonl, path: in.jsonl}"
            )
        for name, node in entries.items():
            self._claim_id(name, node)
            source = build_connector(node, SOURCE_TYPES, "source", self.base_dir, extra_keys=())
            self._outputs[name] = node.attempt(partial(self.pipeline.source, name, source))
        if len(entries) == 1:
            self._default = next(iter(entries))
        else:
            self._no_default = f"the pipeline has {len(entries)} sources ({', '.join(entries)})"

    def add_steps(self, section: Node) -> None:
        """Add every step of the ``steps:`` list, in order."""
        for node in section.sequence():
            self._add_step(node)

    def add_sinks(self, section: Node) -> None:
        """Add every sink of the ``sinks:`` mapping."""
        entries = section.mapping()
        if not entries:
            section.fail("needs at least one sink, for example: out: {type: stdout}")
        for name, node in entries.items():
            self._claim_id(name, node)
            sink = build_connector(node, SINK_TYPES, "sink", self.base_dir, extra_keys=("from",))
            stream = self._upstream(node.mapping().get("from"), node)
            node.attempt(partial(stream.sink, name, sink))

    def _add_step(self, node: Node) -> None:
        entries = node.mapping(allowed=_STEP_KEYS, required=("id",))
        step_id = entries["id"].string()
        self._claim_id(step_id, entries["id"])
        op = _operator(node, entries)
        if "parallelism" in entries and op not in _PARALLEL_OPERATORS:
            entries["parallelism"].fail(
                f"parallelism applies to {' and '.join(_PARALLEL_OPERATORS)} steps only"
            )
        stream = self._upstream(entries.get("from"), node)
        op_node = entries[op]
        outputs = op_node.attempt(lambda: self._build(op, stream, step_id, entries))
        for port, out in outputs.items():
            self._outputs[f"{step_id}.{port}" if port else step_id] = out
        if "" in outputs:
            self._default = step_id
        else:
            ports = " or ".join(f"{step_id}.{p}" for p in outputs)
            self._default = None
            self._no_default = f"step '{step_id}' has no main output (it is a {op})"
            self._no_default += f"; read one of its outputs with from: {ports}"

    def _build(
        self, op: str, stream: Stream[Any], step_id: str, entries: dict[str, Node]
    ) -> Outputs:
        builders = {
            "window": self._window,
            "aggregate": self._aggregate,
            "key_by": self._key_by,
            "batch": self._batch,
            "merge": self._merge,
            "branch": self._branch,
        }
        return builders.get(op, self._function_step)(op, stream, step_id, entries)

    def _window(self, op: str, stream: Stream[Any], step_id: str, entries: Entries) -> Outputs:
        keyed = _keyed(stream, entries[op], op)
        window = read_window(entries[op], self.base_dir)
        aggregations = read_aggregations(entries["aggregate"], self.base_dir)
        out = keyed.window(
            window.windower, window.clock, allowed_lateness=window.allowed_lateness
        ).aggregate(step_id, **aggregations)
        return {"": out.results, "late": out.late}

    def _aggregate(self, op: str, stream: Stream[Any], step_id: str, entries: Entries) -> Outputs:
        keyed = _keyed(stream, entries[op], op)
        return {"": keyed.aggregate(step_id, **read_aggregations(entries[op], self.base_dir))}

    def _key_by(self, op: str, stream: Stream[Any], step_id: str, entries: Entries) -> Outputs:
        return {"": stream.key_by(step_id, self._field_or_function(entries[op]))}

    def _batch(self, op: str, stream: Stream[Any], step_id: str, entries: Entries) -> Outputs:
        keys = ("max_size", "max_wait")
        options = entries[op].mapping(allowed=keys, required=keys)
        size, wait = options["max_size"].integer(minimum=1), options["max_wait"].duration()
        return {"": stream.batch(step_id, max_size=size, max_wait=wait)}

    def _merge(self, op: str, stream: Stream[Any], step_id: str, entries: Entries) -> Outputs:
        others = entries[op].mapping(allowed=("with",), required=("with",))["with"].sequence()
        streams = [self._upstream(other, other) for other in others]
        return {"": stream.merge(step_id, *streams)}

    def _branch(self, op: str, stream: Stream[Any], step_id: str, entries: Entries) -> Outputs:
        branches = stream.branch(step_id, resolve_function(entries[op], self.base_dir))
        return {"true": branches.trues, "false": branches.falses}

    def _function_step(
        self, op: str, stream: Stream[Any], step_id: str, entries: Entries
    ) -> Outputs:
        fn = resolve_function(entries[op], self.base_dir)
        parallel = entries.get("parallelism")
        parallelism = parallel.integer(minimum=1) if parallel is not None else 1
        if op == "map":
            return {"": stream.map(step_id, fn, parallelism=parallelism)}
        if op == "map_batches":
            return {"": stream.map_batches(step_id, fn, parallelism=parallelism)}
        if op == "filter":
            return {"": stream.filter(step_id, fn)}
        return {"": stream.flat_map(step_id, fn)}

    def _field_or_function(self, node: Node) -> str | Callable[..., Any]:
        text = node.string()
        return resolve_function(node, self.base_dir) if is_reference(text) else text

    def _upstream(self, from_node: Node | None, owner: Node) -> Stream[Any]:
        if from_node is None:
            if self._default is None:
                owner.fail(f"missing 'from': {self._no_default}")
            return self._outputs[self._default]
        name = from_node.string()
        if name not in self._outputs:
            known = ", ".join(self._outputs) or "none"
            from_node.fail(
                f"unknown step or source '{name}'; known so far: {known} "
                "(a step reads sources and the steps above it)"
            )
        return self._outputs[name]

    def _claim_id(self, step_id: str, node: Node) -> None:
        node.attempt(lambda: check_step_id(step_id))
        if step_id in self._id_lines:
            node.fail(
                f"id '{step_id}' is already used at line {self._id_lines[step_id]}; "
                "sources, steps and sinks share one set of ids"
            )
        self._id_lines[step_id] = node.line


def _keyed(stream: Stream[Any], node: Node, op: str) -> KeyedStream[Any]:
    if not isinstance(stream, KeyedStream):
        node.fail(
            f"{op} needs a keyed stream; add a key_by step before it "
            "(or read a keyed step with from:)"
        )
    return stream


def _operator(node: Node, entries: dict[str, Node]) -> str:
    ops = [name for name in entries if name in OPERATORS]
    if set(ops) == {"window", "aggregate"}:
        return "window"
    if "window" in ops and len(ops) == 1:
        node.fail("a window step needs 'aggregate' too, for example: aggregate: {n: count}")
    if not ops:
        node.fail(f"a step needs an operator; use one of: {', '.join(OPERATORS)}")
    if len(ops) > 1:
        node.fail(f"a step has one operator; found {' and '.join(ops)}; split it into steps")
    return ops[0]
