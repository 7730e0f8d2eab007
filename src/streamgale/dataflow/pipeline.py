"""The pipeline: a named graph of steps, built through :class:`Stream` operators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from streamgale.connectors.base import Source
from streamgale.dataflow.steps import (
    OperatorStep,
    SinkStep,
    SourceStep,
    Step,
    StreamRef,
    check_step_id,
)
from streamgale.dataflow.stream import Stream
from streamgale.errors import PipelineDefinitionError

if TYPE_CHECKING:
    from streamgale.runtime.config import RuntimeConfig

__all__ = ["Pipeline"]

T = TypeVar("T")


class Pipeline:
    """A named dataflow: sources, operators and sinks, each with a unique step id.

    >>> from streamgale.testing import TestingSink, TestingSource
    >>> p = Pipeline("hello")
    >>> out = []
    >>> p.source("in", TestingSource(["a", "b"])).map("up", str.upper).sink("out", TestingSink(out))
    >>> p.run()
    >>> out
    ['A', 'B']
    """

    def __init__(self, name: str) -> None:
        self.name = check_step_id(name)
        self._steps: dict[str, Step] = {}

    def source(self, step_id: str, source: Source[T]) -> Stream[T]:
        """Add an input and return the stream of its records."""
        if not isinstance(source, Source):
            raise PipelineDefinitionError(
                f"source '{step_id}' must be a streamgale Source; got {type(source).__name__}"
            )
        self.add_step(SourceStep(step_id, source))
        return Stream(self, StreamRef(step_id))

    def add_step(self, step: Step) -> None:
        """Register ``step``; operators call this, users rarely need to."""
        check_step_id(step.step_id)
        if step.step_id in self._steps:
            raise PipelineDefinitionError(
                f"step '{step.step_id}' already exists in pipeline '{self.name}'; "
                "do you have two steps with the same id?"
            )
        for ref in upstreams_of(step):
            self._check_ref(step.step_id, ref)
        self._steps[step.step_id] = step

    def _check_ref(self, step_id: str, ref: StreamRef) -> None:
        upstream = self._steps.get(ref.step_id)
        if upstream is None:
            raise PipelineDefinitionError(
                f"step '{step_id}' reads from '{ref.step_id}', which is not in "
                f"pipeline '{self.name}'; streams cannot cross pipelines"
            )
        if isinstance(upstream, SinkStep):
            raise PipelineDefinitionError(f"step '{step_id}' cannot read from sink '{ref.step_id}'")

    @property
    def steps(self) -> dict[str, Step]:
        """Steps in the order they were added, which is a topological order."""
        return dict(self._steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self._steps.values())

    def validate(self) -> None:
        """Check the graph can run: at least one source and one sink."""
        kinds = [type(s) for s in self._steps.values()]
        if SourceStep not in kinds:
            raise PipelineDefinitionError(
                f"pipeline '{self.name}' has no source; add one with pipeline.source(...)"
            )
        if SinkStep not in kinds:
            raise PipelineDefinitionError(
                f"pipeline '{self.name}' has no sink; end a stream with .sink(...)"
            )

    def run(
        self, config: RuntimeConfig | None = None, *, state_dir: str | Path | None = None
    ) -> None:
        """Run on the local runtime until every source ends or a stop signal arrives."""
        from streamgale.runtime.config import RuntimeConfig
        from streamgale.runtime.runner import Runtime

        if config is None:
            config = RuntimeConfig(state_dir=Path(state_dir) if state_dir else None)
        Runtime(self, config).run()

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={list(self._steps)})"


def upstreams_of(step: Step) -> tuple[StreamRef, ...]:
    """The streams ``step`` reads, in input-port order."""
    if isinstance(step, OperatorStep):
        return step.upstreams
    if isinstance(step, SinkStep):
        return (step.upstream,)
    return ()


def output_ports(step: Step) -> int:
    """How many output ports ``step`` has."""
    if isinstance(step, OperatorStep):
        return len(step.ports)
    return 0 if isinstance(step, SinkStep) else 1


def describe(step: Step) -> dict[str, Any]:
    """A JSON-friendly description of ``step`` (for the CLI and dashboards)."""
    kind = step.op if isinstance(step, OperatorStep) else type(step).__name__
    return {"id": step.step_id, "kind": kind, "inputs": [r.step_id for r in upstreams_of(step)]}
