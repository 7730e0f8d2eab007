"""ModelSession: loads once, picks the execution provider, validates inputs, runs."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from streamgale.errors import ConfigError, InferenceError, MissingExtraError
from streamgale.inference import (
    PROVIDERS_ENV,
    ModelSession,
    TensorSpec,
    load_model_config,
    select_providers,
)
from tests.inference import onnx_models

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TRT = "TensorrtExecutionProvider"


@pytest.fixture
def classifier(tmp_path: Path) -> ModelSession:
    return ModelSession(load_model_config(onnx_models.classifier(tmp_path)), environ={})


def test_runs_and_matches_numpy(classifier: ModelSession) -> None:
    x = np.random.default_rng(1).random((5, 1, 8, 8), dtype=np.float32)
    out = classifier.run(x)
    assert list(out) == ["probability"]
    np.testing.assert_allclose(out["probability"], onnx_models.expected_probability(x), rtol=1e-5)
    by_name = classifier.run({"x": x})
    np.testing.assert_array_equal(by_name["probability"], out["probability"])


def test_uses_cpu_here_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="streamgale.inference.session"):
        session = ModelSession(load_model_config(onnx_models.classifier(tmp_path)), environ={})
    assert session.provider == CPU
    assert session.requested_providers == (CPU,)
    assert f"model lesion@1.0 loaded from {tmp_path / 'lesion.onnx'} on {CPU}" in caplog.text


def test_session_is_loaded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    real = onnxruntime.InferenceSession

    def counting(path: str, **kwargs: object) -> object:
        loads.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", counting)
    session = ModelSession(load_model_config(onnx_models.classifier(tmp_path)), environ={})
    for _ in range(5):
        session.run(np.zeros((2, 1, 8, 8), np.float32))
    assert loads == [str(tmp_path / "lesion.onnx")]


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_prefers_tensorrt_then_cuda_then_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a GPU machine the order asked for is TensorRT, CUDA, CPU; here only CPU runs."""
    monkeypatch.setattr(
        onnxruntime, "get_available_providers", lambda: [CPU, "AzureExecutionProvider", CUDA, TRT]
    )
    session = ModelSession(load_model_config(onnx_models.classifier(tmp_path)), environ={})
    assert session.requested_providers == (TRT, CUDA, CPU)
    assert session.provider == CPU  # this onnxruntime build has no GPU providers
    assert session.run(np.zeros((1, 1, 8, 8), np.float32))["probability"].shape == (1, 1)


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_environment_and_argument_override_the_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [TRT, CUDA, CPU])
    config = load_model_config(onnx_models.classifier(tmp_path))
    from_env = ModelSession(config, environ={PROVIDERS_ENV: "cuda, cpu"})
    assert from_env.requested_providers == (CUDA, CPU)
    argument_wins = ModelSession(config, providers=["cpu"], environ={PROVIDERS_ENV: "cuda"})
    assert argument_wins.requested_providers == (CPU,)
    as_text = ModelSession(config, providers="tensorrt,cuda", environ={})
    assert as_text.requested_providers == (TRT, CUDA, CPU)
    monkeypatch.setenv(PROVIDERS_ENV, "tensorrt")  # the real environment by default
    assert ModelSession(config).requested_providers == (TRT, CPU)


def test_select_providers() -> None:
    assert select_providers([CPU]) == [CPU]
    assert select_providers([CPU, CUDA, TRT]) == [TRT, CUDA, CPU]
    assert select_providers([CPU, CUDA], [CUDA]) == [CUDA, CPU]  # CPU stays the fallback
    assert select_providers([CPU, CUDA], ["trt", "cuda"]) == [CUDA, CPU]  # missing ones skipped
    with pytest.raises(ConfigError, match=r"none of the requested .* offers: CPUExecutionProvider"):
        select_providers([CPU], ["cuda"])


def test_input_is_validated(classifier: ModelSession) -> None:
    spec = "takes float32 arrays of shape \\(batch, 1, 8, 8\\)"
    with pytest.raises(InferenceError, match=spec + r"; got float64 \(2, 1, 8, 8\)"):
        classifier.run(np.zeros((2, 1, 8, 8)))
    with pytest.raises(InferenceError, match=spec + r"; got float32 \(2, 1, 9, 8\)"):
        classifier.run(np.zeros((2, 1, 9, 8), np.float32))
    with pytest.raises(InferenceError, match=spec + r"; got float32 \(1, 8, 8\)"):
        classifier.run(np.zeros((1, 8, 8), np.float32))
    with pytest.raises(InferenceError, match="takes a numpy array; got list"):
        classifier.run([[0.0]])  # type: ignore[arg-type]
    with pytest.raises(InferenceError, match="takes a numpy array; got NoneType"):
        classifier.run({"y": np.zeros((1, 1, 8, 8), np.float32)})


def test_model_failure_is_an_inference_error(tmp_path: Path) -> None:
    session = ModelSession(load_model_config(onnx_models.lookup(tmp_path)), environ={})
    with pytest.raises(InferenceError, match=r"model lookup@1 failed on a batch of 2: .*Gather"):
        session.run(np.array([[1.0], [9.0]], np.float32))
    assert session.run(np.array([[1.0]], np.float32))["y"].tolist() == [[11.0]]  # still up


def test_config_must_match_the_model(tmp_path: Path) -> None:
    config = load_model_config(onnx_models.classifier(tmp_path))
    cases = [
        (replace(config, inputs=(TensorSpec("image", (-1, 1, 8, 8)),)), "has no input 'image'"),
        (replace(config, inputs=(TensorSpec("x", (-1, 1, 8, 8), "uint8"),)), "tensor(float)"),
        (replace(config, inputs=(TensorSpec("x", (-1, 1, 16, 16)),)), "has shape ['N', 1, 8, 8]"),
        (replace(config, inputs=(TensorSpec("x", (-1, 64)),)), "config says [-1, 64]"),
        (replace(config, outputs=("score",)), "has no output 'score'"),
    ]
    for bad, message in cases:
        with pytest.raises(ConfigError, match="make the config match the model") as caught:
            ModelSession(bad, environ={})
        assert message in str(caught.value)


def test_unreadable_model_file(tmp_path: Path) -> None:
    config = load_model_config(onnx_models.classifier(tmp_path))
    config.path.write_bytes(b"this is not a protobuf")
    with pytest.raises(ConfigError, match=r"cannot load model lesion@1\.0"):
        ModelSession(config, environ={})


def test_threads_are_configurable(tmp_path: Path) -> None:
    config = load_model_config(onnx_models.classifier(tmp_path))
    session = ModelSession(config, intra_op_threads=1, environ={})
    assert session.run(np.ones((1, 1, 8, 8), np.float32))["probability"].shape == (1, 1)
    with pytest.raises(ConfigError, match="intra_op_threads must be a whole number >= 1"):
        ModelSession(config, intra_op_threads=0, environ={})


def test_warm_up_runs_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shapes: list[tuple[int, ...]] = []
    real = onnxruntime.InferenceSession.run

    def spy(self: object, names: object, feeds: dict[str, np.ndarray], *args: object) -> object:
        shapes.append(next(iter(feeds.values())).shape)
        return real(self, names, feeds, *args)

    monkeypatch.setattr(onnxruntime.InferenceSession, "run", spy)
    config = load_model_config(onnx_models.classifier(tmp_path))
    ModelSession(config, environ={})
    assert shapes == [(16, 1, 8, 8), (1, 1, 8, 8)]
    shapes.clear()
    ModelSession(config, warm_up=False, environ={})
    assert shapes == []


def test_missing_onnxruntime_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_model_config(onnx_models.classifier(tmp_path))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now fails
    with pytest.raises(MissingExtraError, match=r"pip install 'streamgale\[inference\]'"):
        ModelSession(config)
