"""Pipeline definition errors are caught early, with messages that say what to do."""

from __future__ import annotations

import pytest

from streamgale import Pipeline
from streamgale.errors import PipelineDefinitionError
from streamgale.testing import TestingSink, TestingSource


def test_duplicate_step_id_is_refused() -> None:
    p = Pipeline("dup")
    s = p.source("in", TestingSource([1]))
    s.map("m", str)
    with pytest.raises(PipelineDefinitionError, match="step 'm' already exists"):
        s.map("m", str)


@pytest.mark.parametrize("bad", ["", "has space", "-lead", None, 3])
def test_invalid_step_ids_are_refused(bad: object) -> None:
    p = Pipeline("ids")
    with pytest.raises(PipelineDefinitionError, match="step id"):
        p.source(bad, TestingSource([1]))  # type: ignore[arg-type]


def test_pipeline_without_sink_cannot_run() -> None:
    p = Pipeline("nosink")
    p.source("in", TestingSource([1])).map("m", str)
    with pytest.raises(PipelineDefinitionError, match="has no sink"):
        p.run()


def test_source_must_be_a_source() -> None:
    with pytest.raises(PipelineDefinitionError, match="must be a streamgale Source"):
        Pipeline("p").source("in", [1, 2])  # type: ignore[arg-type]


def test_merge_across_pipelines_is_refused() -> None:
    a, b = Pipeline("a"), Pipeline("b")
    sa = a.source("x", TestingSource([1]))
    sb = b.source("y", TestingSource([2]))
    with pytest.raises(PipelineDefinitionError, match="same pipeline"):
        sa.merge("m", sb)


@pytest.mark.parametrize(("size", "wait"), [(0, 1.0), (2, 0), (2, -1)])
def test_batch_arguments_are_validated(size: int, wait: float) -> None:
    s = Pipeline("b").source("in", TestingSource([1]))
    with pytest.raises(PipelineDefinitionError, match="batch 'b'"):
        s.batch("b", max_size=size, max_wait=wait)


def test_parallelism_must_be_positive() -> None:
    s = Pipeline("par").source("in", TestingSource([1]))
    with pytest.raises(PipelineDefinitionError, match="parallelism"):
        s.map("m", str, parallelism=0)


def test_sink_step_runs_to_end() -> None:
    out: list[str] = []
    p = Pipeline("ok")
    p.source("in", TestingSource([1])).map("s", str).sink("out", TestingSink(out))
    p.run()
    assert out == ["1"]
