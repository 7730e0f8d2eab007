"""Step descriptions: the nodes of a pipeline graph.

Steps only *describe* work. They hold user functions and configuration and
know how to build their runtime logic; they never run anything themselves.
That keeps a :class:`~streamgale.dataflow.Pipeline` a plain value that a
runtime (the local one today, a distributed engine later) can execute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from streamgale.connectors.base import Sink, Source
from streamgale.errors import PipelineDefinitionError
from streamgale.runtime.logic import LogicFactory

__all__ = ["OperatorStep", "SinkStep", "SourceStep", "Step", "StreamRef", "check_step_id"]

_STEP_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def check_step_id(step_id: object) -> str:
    """Step ids name metrics, snapshot keys and directories, so keep them plain."""
    if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
        raise PipelineDefinitionError(
            f"step id {step_id!r} is not valid; use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_'"
        )
    return step_id


@dataclass(frozen=True)
class StreamRef:
    """One output port of one step: the edge a downstream step reads."""

    step_id: str
    port: int = 0


@dataclass(frozen=True)
class SourceStep:
    step_id: str
    source: Source[Any]


@dataclass(frozen=True)
class SinkStep:
    step_id: str
    upstream: StreamRef
    sink: Sink[Any]


@dataclass(frozen=True)
class OperatorStep:
    """A step with runtime logic: ``op`` names the operator for humans and metrics."""

    step_id: str
    op: str
    upstreams: tuple[StreamRef, ...]
    ports: tuple[str, ...]
    factory: LogicFactory
    parallelism: int = 1


Step: TypeAlias = SourceStep | SinkStep | OperatorStep
