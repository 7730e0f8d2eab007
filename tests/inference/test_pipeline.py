"""Inference inside StreamGale pipelines: end to end, side by side, across checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamgale import Pipeline, RuntimeConfig
from streamgale.connectors.base import BuildContext, Source, SourcePartition
from streamgale.inference import (
    InferenceFailure,
    InferenceRequest,
    InferenceResult,
    ModelRegistry,
    ModelSession,
    infer,
    load_model_config,
)
from streamgale.state.file import FileStateStore
from streamgale.testing import TestingSink, TestingSource
from tests.inference import onnx_models


def lookups(values: list[float], *, prefix: str = "v") -> list[InferenceRequest]:
    return [
        InferenceRequest(f"{prefix}{i}", np.array([[v]], np.float32), {"index": i})
        for i, v in enumerate(values)
    ]


def test_end_to_end_results_and_failures(tmp_path: Path) -> None:
    session = ModelSession(load_model_config(onnx_models.lookup(tmp_path)), environ={})
    values = [float(i % 4) for i in range(30)]
    values[7] = values[22] = 40.0  # two inputs the model cannot process
    p = Pipeline("infer")
    requests = p.source("studies", TestingSource[InferenceRequest](lookups(values), batch_size=6))
    results, failures = infer(requests, "lookup", session)
    got: list[InferenceResult] = []
    failed: list[InferenceFailure] = []
    results.sink("results", TestingSink(got))
    failures.sink("quarantine", TestingSink(failed))
    p.run()
    assert sorted(f.key for f in failed) == ["v22", "v7"]
    assert all("out of data bounds" in f.error for f in failed)
    assert len(got) == 28
    assert {r.key for r in got} | {f.key for f in failed} == {f"v{i}" for i in range(30)}
    for result in got:
        assert float(result.outputs["y"][0, 0]) == 10.0 + values[result.meta["index"]]
        assert result.batch_size <= 8 and result.model == "lookup"


def test_two_models_side_by_side_from_a_registry(tmp_path: Path) -> None:
    registry = ModelRegistry(environ={})
    registry.load(onnx_models.classifier(tmp_path))
    registry.load(onnx_models.segmenter(tmp_path))
    rng = np.random.default_rng(3)
    chest = [
        InferenceRequest(f"ct{i}", rng.random((1, 1, 8, 8), dtype=np.float32)) for i in range(20)
    ]
    abdomen = [
        InferenceRequest(f"mr{i}", rng.random((2, 1, 8, 8), dtype=np.float32)) for i in range(7)
    ]
    p = Pipeline("side_by_side")
    lesions, _ = infer(p.source("chest", TestingSource(chest)), "lesion", registry, name="lesion")
    organs, _ = infer(
        p.source("abdomen", TestingSource(abdomen)), "organs", registry, name="organs@2"
    )
    got_lesions: list[InferenceResult] = []
    got_organs: list[InferenceResult] = []
    lesions.sink("lesion_results", TestingSink(got_lesions))
    organs.sink("organ_results", TestingSink(got_organs))
    p.run()
    assert [r.key for r in got_lesions] == [r.key for r in chest]
    assert [r.key for r in got_organs] == [r.key for r in abdomen]
    for request, result in zip(chest, got_lesions, strict=True):
        expected = onnx_models.expected_probability(request.tensor)
        np.testing.assert_allclose(result.outputs["probability"], expected, rtol=1e-5)
    for request, result in zip(abdomen, got_organs, strict=True):
        np.testing.assert_array_equal(result.outputs["mask"], request.tensor > 0.5)
        assert result.model == "organs" and result.batch_size <= 8


class _StallingSource(Source[Any]):
    """Emits its items, then nothing until a checkpoint commits, then ends.

    At the commit it records how many results the sink holds, which shows
    what the checkpoint did with requests that were still waiting.
    """

    def __init__(self, items: list[Any], sink_out: list[Any], seen: list[int]) -> None:
        self.items, self.sink_out, self.seen = items, sink_out, seen

    def list_parts(self) -> list[str]:
        return ["0"]

    def build_part(self, ctx: BuildContext, part: str, resume_state: Any) -> SourcePartition[Any]:
        return _StallingPartition(self)


class _StallingPartition(SourcePartition[Any]):
    def __init__(self, source: _StallingSource) -> None:
        self.source = source
        self.sent = False

    def next_batch(self) -> list[Any]:
        if not self.sent:
            self.sent = True
            return list(self.source.items)
        if self.source.seen:
            raise StopIteration
        return []

    def on_commit(self) -> None:
        self.source.seen.append(len(self.source.sink_out))

    def snapshot(self) -> Any:
        return self.sent


def test_checkpoint_drains_waiting_requests_into_results(tmp_path: Path) -> None:
    session = ModelSession(load_model_config(onnx_models.lookup(tmp_path)), environ={})
    got: list[InferenceResult] = []
    seen: list[int] = []
    p = Pipeline("checkpointed")
    source = _StallingSource(lookups([1.0, 2.0, 3.0]), got, seen)
    # max_wait of a minute: only the checkpoint can make these three run early.
    results, _ = infer(p.source("in", source), "lookup", session, max_wait_ms=60_000)
    results.sink("out", TestingSink(got))
    state = tmp_path / "state"
    p.run(RuntimeConfig(state_dir=state, checkpoint_interval=0.05, idle_wait=0.01))
    assert seen[0] == 3  # results were out before the first snapshot was committed
    snapshot = FileStateStore(state / "snapshots").load()
    assert snapshot is not None and snapshot.steps["lookup"] is None
    assert [r.key for r in got] == ["v0", "v1", "v2"]


def test_stat_requests_overtake_routine_ones_in_a_pipeline(tmp_path: Path) -> None:
    session = ModelSession(load_model_config(onnx_models.lookup(tmp_path)), environ={})
    routine = lookups([1.0] * 12, prefix="routine")
    stat = [InferenceRequest(f"stat{i}", np.array([[2.0]], np.float32), {}, 10) for i in range(3)]
    got: list[InferenceResult] = []
    p = Pipeline("priority")
    source = TestingSource[InferenceRequest]([routine + stat], batches=True)  # arrive together
    infer(p.source("in", source), "lookup", session).results.sink("out", TestingSink(got))
    p.run()
    assert [r.key for r in got[:3]] == ["stat0", "stat1", "stat2"]
    assert [r.key for r in got[3:]] == [f"routine{i}" for i in range(12)]


def test_infer_with_a_registry_needs_a_known_name(tmp_path: Path) -> None:
    from streamgale.errors import PipelineDefinitionError

    registry = ModelRegistry([load_model_config(onnx_models.lookup(tmp_path))], environ={})
    stream = Pipeline("p").source("in", TestingSource[InferenceRequest]([]))
    with pytest.raises(PipelineDefinitionError, match=r"say which model.*loaded: lookup@1"):
        infer(stream, "m", registry)
    with pytest.raises(PipelineDefinitionError, match=r"no model 'lesion' is loaded"):
        infer(stream, "m", registry, name="lesion")
