"""DynamicBatcher: batching by size and by wait, priority, failure isolation, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamgale.batch import Batch
from streamgale.errors import InferenceError, PipelineDefinitionError
from streamgale.inference import (
    DynamicBatcher,
    InferenceFailure,
    InferenceRequest,
    InferenceResult,
    ModelSession,
    load_model_config,
    run_batched,
)
from streamgale.runtime.logic import Emit, ManualClock, StepContext
from tests.inference import onnx_models


class Recorder:
    """A session stand-in's spy: the batch sizes the model really ran."""

    def __init__(self, session: ModelSession) -> None:
        self.sizes: list[int] = []
        real = session.run

        def run(batch: Any) -> dict[str, np.ndarray]:
            self.sizes.append(len(batch))
            return real(batch)

        session.run = run  # type: ignore[method-assign]


class Harness:
    """Drives a DynamicBatcher by hand with a ManualClock, like the runtime would."""

    def __init__(self, session: ModelSession, **options: Any) -> None:
        self.clock = ManualClock(100.0)
        self.dead: list[tuple[Any, BaseException]] = []
        self.ctx = StepContext("model", self.clock, self._dead_letter)
        self.logic = DynamicBatcher(self.ctx, session, **options)
        self.results: list[InferenceResult] = []
        self.failures: list[InferenceFailure] = []

    def _dead_letter(self, payload: Any, error: BaseException, *, batch: bool = False) -> None:
        self.dead.append((payload, error))

    def collect(self, emit: Emit) -> Emit:
        for port, batch in emit:
            assert isinstance(batch, list)
            (self.results if port == 0 else self.failures).extend(batch)
        return emit

    def send(self, batch: Batch) -> Emit:
        return self.collect(self.logic.on_batch(0, batch))

    def tick(self) -> Emit:
        """What the runtime does each turn: fire the timer when it is due."""
        due = self.logic.next_awake()
        if due is not None and due <= self.clock.now():
            return self.collect(self.logic.on_tick(self.clock.now()))
        return []


def images(n: int, *, start: int = 0, priority: int = 0, prefix: str = "r") -> list[Any]:
    rng = np.random.default_rng(start)
    return [
        InferenceRequest(
            f"{prefix}{i}",
            rng.random((1, 1, 8, 8), dtype=np.float32),
            {"SOPInstanceUID": f"1.2.{i}"},
            priority,
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def classifier(tmp_path: Path) -> ModelSession:
    return ModelSession(load_model_config(onnx_models.classifier(tmp_path)), environ={})


def test_full_batch_runs_at_once(classifier: ModelSession) -> None:
    spy = Recorder(classifier)
    h = Harness(classifier)  # max_batch_size 16 from the config
    h.send(images(10))
    assert h.results == [] and h.logic.next_awake() == pytest.approx(100.005)
    h.send(images(6, start=10))
    assert spy.sizes == [16]
    assert [r.key for r in h.results] == [f"r{i}" for i in range(16)]
    assert {r.batch_size for r in h.results} == {16}
    assert h.logic.next_awake() is None


def test_big_input_batch_is_cut_into_model_batches(classifier: ModelSession) -> None:
    spy = Recorder(classifier)
    h = Harness(classifier)
    h.send(images(40))
    assert spy.sizes == [16, 16]  # 8 wait for more, or for max_wait
    h.clock.advance(0.005)
    h.tick()
    assert spy.sizes == [16, 16, 8]
    assert [r.key for r in h.results] == [f"r{i}" for i in range(40)]


def test_partial_batch_runs_after_max_wait_of_the_oldest(classifier: ModelSession) -> None:
    spy = Recorder(classifier)
    h = Harness(classifier, max_wait_ms=10)
    h.send(images(3))
    h.clock.advance(0.006)
    h.send(images(2, start=3))  # younger; the deadline stays the oldest's
    assert h.logic.next_awake() == pytest.approx(100.010)
    h.clock.advance(0.003)
    assert h.tick() == [] and spy.sizes == []
    h.clock.advance(0.001)
    h.tick()
    assert spy.sizes == [5]
    assert [round(r.queued_ms, 6) for r in h.results] == [10.0, 10.0, 10.0, 4.0, 4.0]
    assert all(r.infer_ms == 0.0 for r in h.results)  # the ManualClock did not move


def test_results_carry_outputs_meta_and_model(classifier: ModelSession) -> None:
    h = Harness(classifier, max_batch_size=4)
    requests = images(4)
    h.send(requests)
    for request, result in zip(requests, h.results, strict=True):
        assert result.key == request.key and result.meta is request.meta
        assert (result.model, result.version) == ("lesion", "1.0")
        np.testing.assert_allclose(
            result.outputs["probability"],
            onnx_models.expected_probability(request.tensor),
            rtol=1e-5,
        )


def test_batched_results_equal_running_each_alone(tmp_path: Path) -> None:
    session = ModelSession(load_model_config(onnx_models.segmenter(tmp_path)), environ={})
    h = Harness(session)  # max_batch_size 8 rows
    rng = np.random.default_rng(7)
    requests = [
        InferenceRequest(f"s{i}", rng.random((1 + i % 3, 1, 8, 8), dtype=np.float32))
        for i in range(12)
    ]
    h.send(requests)
    h.collect(h.logic.drain())
    assert [r.key for r in h.results] == [r.key for r in requests]
    for request, result in zip(requests, h.results, strict=True):
        alone = session.run(request.tensor)
        assert result.outputs["mask"].shape == (request.rows, 1, 8, 8)
        for name in ("mask", "probability"):
            np.testing.assert_array_equal(result.outputs[name], alone[name])
    assert all(r.batch_size <= 8 for r in h.results)


def test_higher_priority_goes_first_fifo_within(classifier: ModelSession) -> None:
    spy = Recorder(classifier)
    h = Harness(classifier, max_batch_size=4)
    routine = images(3, prefix="routine")
    stat = images(3, priority=5, prefix="stat")
    urgent = images(1, priority=9, prefix="urgent")
    h.send(routine + stat[:1])  # 4 rows: one full batch, whatever the priorities
    assert [r.key for r in h.results] == ["stat0", "routine0", "routine1", "routine2"]
    assert {r.batch_size for r in h.results} == {4}
    h.results.clear()
    h.send(images(3, start=3, prefix="routine") + stat[1:] + urgent)  # 6 rows wait
    assert [r.key for r in h.results] == ["urgent0", "stat1", "stat2", "routine3"]
    h.clock.advance(0.005)
    h.tick()
    assert [r.key for r in h.results][4:] == ["routine4", "routine5"]
    assert spy.sizes == [4, 4, 2]


def test_one_bad_request_among_good_ones_fails_alone(tmp_path: Path) -> None:
    session = ModelSession(load_model_config(onnx_models.lookup(tmp_path)), environ={})
    spy = Recorder(session)
    h = Harness(session, max_batch_size=8)
    values = [0.0, 1.0, 2.0, 9.0, 3.0, 1.0, 2.0, 0.0]  # 9 is out of the lookup table
    h.send([InferenceRequest(f"v{i}", np.array([[v]], np.float32)) for i, v in enumerate(values)])
    assert spy.sizes == [8, 1, 1, 1, 1, 1, 1, 1, 1]  # the batch, then each alone once
    assert [f.key for f in h.failures] == ["v3"]
    failure = h.failures[0]
    assert "Gather" in failure.error and "out of data bounds" in failure.error
    assert (failure.model, failure.version) == ("lookup", "1")
    assert failure.request.tensor[0, 0] == 9.0
    good = {r.key: float(r.outputs["y"][0, 0]) for r in h.results}
    assert good == {f"v{i}": 10.0 + v for i, v in enumerate(values) if v != 9.0}
    assert {r.batch_size for r in h.results} == {1}
    h.send([InferenceRequest(f"w{i}", np.array([[1.0]], np.float32)) for i in range(8)])
    assert spy.sizes[-1] == 8 and len(h.results) == 15  # the model stayed up


def test_wrong_shaped_request_fails_at_the_model(tmp_path: Path) -> None:
    session = ModelSession(load_model_config(onnx_models.reshaper(tmp_path)), environ={})
    h = Harness(session)
    good = [InferenceRequest(f"g{i}", np.full((1, 4), i, np.float32)) for i in range(4)]
    bad = InferenceRequest("bad", np.zeros((1, 3), np.float32))  # reshape to 2x2 fails
    h.send([*good[:2], bad, *good[2:]])
    h.collect(h.logic.drain())
    assert [f.key for f in h.failures] == ["bad"]
    assert "Reshape" in h.failures[0].error
    assert [r.key for r in h.results] == ["g0", "g1", "g2", "g3"]
    assert h.results[3].outputs["y"].tolist() == [[[3.0, 3.0], [3.0, 3.0]]]


def test_unfit_requests_fail_before_the_model(classifier: ModelSession) -> None:
    spy = Recorder(classifier)
    h = Harness(classifier, max_batch_size=2)
    wrong_dtype = InferenceRequest("f64", np.zeros((1, 1, 8, 8)))
    wrong_size = InferenceRequest("small", np.zeros((1, 1, 4, 4), np.float32))
    h.send([wrong_dtype, *images(1), wrong_size, *images(1, start=1)])
    assert [f.key for f in h.failures] == ["f64", "small"]
    assert "takes float32 arrays of shape (batch, 1, 8, 8); got float64" in h.failures[0].error
    assert [r.key for r in h.results] == ["r0", "r1"] and spy.sizes == [2]


def test_mappings_are_requests_and_other_records_dead_letters(classifier: ModelSession) -> None:
    h = Harness(classifier, max_batch_size=2)
    tensor = np.zeros((1, 1, 8, 8), np.float32)
    bad_priority = {"key": "d4", "tensor": tensor, "priority": "high"}
    h.send([{"key": "d1", "tensor": tensor, "priority": 1}, "not a request", {"key": "d2"}])
    h.send([bad_priority])
    assert [d[0] for d in h.dead] == ["not a request", {"key": "d2"}, bad_priority]
    assert all(isinstance(d[1], InferenceError) for d in h.dead)
    assert "takes InferenceRequest records, or mappings" in str(h.dead[0][1])
    h.send([{"key": "d3", "tensor": tensor, "meta": {"a": 1}}])
    assert [(r.key, dict(r.meta)) for r in h.results] == [("d1", {}), ("d3", {"a": 1})]


def test_checkpoint_drains_so_nothing_waits_in_a_snapshot(classifier: ModelSession) -> None:
    h = Harness(classifier)
    h.send(images(5))
    assert [r.key for r in h.logic.snapshot() or []] == ["r0", "r1", "r2", "r3", "r4"]
    h.collect(h.logic.drain())  # what the runtime calls before every checkpoint
    assert len(h.results) == 5 and h.logic.snapshot() is None
    assert h.logic.next_awake() is None


def test_resume_state_queues_requests_again(classifier: ModelSession) -> None:
    h = Harness(classifier)
    h.send(images(3))
    state = h.logic.snapshot()  # a snapshot taken without a drain (not the runtime's way)
    resumed = Harness(classifier)
    resumed.logic = DynamicBatcher(resumed.ctx, classifier, resume_state=state)
    resumed.collect(resumed.logic.on_eof())
    assert [r.key for r in resumed.results] == ["r0", "r1", "r2"]


def test_run_batched_without_a_pipeline(tmp_path: Path) -> None:
    session = ModelSession(load_model_config(onnx_models.lookup(tmp_path)), environ={})
    spy = Recorder(session)
    requests = [InferenceRequest(f"v{i}", np.array([[i % 4]], np.float32)) for i in range(19)]
    requests[11] = InferenceRequest("bad", np.array([[7.0]], np.float32))
    outcome = run_batched(session, requests)
    assert spy.sizes[:1] == [8] and spy.sizes[-1] == 3  # 8, then 8 with the bad one alone
    assert [f.key for f in outcome.failures] == ["bad"]
    assert len(outcome.results) == 18
    results, failures = run_batched(session, requests[:4], max_batch_size=2)
    assert [r.batch_size for r in results] == [2, 2, 2, 2] and failures == []


def test_infer_checks_its_options(classifier: ModelSession) -> None:
    from streamgale import Pipeline
    from streamgale.inference import infer
    from streamgale.testing import TestingSource

    stream = Pipeline("p").source("in", TestingSource[InferenceRequest](images(1)))
    with pytest.raises(PipelineDefinitionError, match=r"infer 'm'.*max_batch_size"):
        infer(stream, "m", classifier, max_batch_size=0)
    with pytest.raises(PipelineDefinitionError, match=r"infer 'm'.*max_wait_ms"):
        infer(stream, "m", classifier, max_wait_ms=-1)
    with pytest.raises(PipelineDefinitionError, match="ModelSession or a ModelRegistry"):
        infer(stream, "m", "lesion")  # type: ignore[arg-type]


def test_batch_limits_are_checked_everywhere(classifier: ModelSession) -> None:
    from streamgale.errors import ConfigError

    ctx = StepContext("m", ManualClock(), lambda *a, **k: None)
    with pytest.raises(ConfigError, match=r"key 'max_batch_size'.*got 0"):
        DynamicBatcher(ctx, classifier, max_batch_size=0)
    with pytest.raises(ConfigError, match=r"key 'max_wait_ms'.*got -5"):
        DynamicBatcher(ctx, classifier, max_wait_ms=-5)
    with pytest.raises(ConfigError, match=r"key 'max_batch_size'"):
        run_batched(classifier, images(2), max_batch_size=-1)


def test_records_survive_pickling(classifier: ModelSession) -> None:
    """Snapshots and durable sinks pickle requests, results and failures."""
    import pickle

    h = Harness(classifier, max_batch_size=2)
    h.send([InferenceRequest("plain", np.ones((1, 1, 8, 8), np.float32)), *images(1)])
    h.send([InferenceRequest("bad", np.ones((1, 1, 8, 8)))])
    result, failure = pickle.loads(pickle.dumps((h.results[0], h.failures[0])))
    assert result.key == "plain" and result.outputs["probability"].shape == (1, 1)
    assert failure.request.key == "bad" and failure.request.meta == {}
    assert "got float64" in failure.error


def test_requests_further_apart_than_max_wait_run_at_once(classifier: ModelSession) -> None:
    """Waiting would not fill the batch, only delay each request by max_wait."""
    spy = Recorder(classifier)
    h = Harness(classifier, max_wait_ms=5)
    h.clock.advance(0.010)  # 100 images/s: the next one comes 10 ms after the last
    h.send(images(1))
    assert spy.sizes == [1] and h.results[0].queued_ms == 0.0
    h.clock.advance(0.003)  # closer together than max_wait: they wait to batch
    h.send(images(2, start=1))
    assert spy.sizes == [1] and h.logic.next_awake() == pytest.approx(100.018)
    h.clock.advance(0.002)
    h.send(images(1, start=3))
    h.clock.advance(0.003)
    h.tick()
    assert spy.sizes == [1, 3]
