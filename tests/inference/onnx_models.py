"""Tiny ONNX models built with ``onnx.helper``, and their config files, for the tests.

Each builder writes ``<name>.onnx`` and ``<name>.yaml`` into a folder and
returns the YAML path, so tests go through the same loading path as users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9  # what the installed onnxruntime reads; onnx's newest may be too new

CLASSIFIER_W = 4.0
CLASSIFIER_B = -2.0


def _save(folder: Path, name: str, graph: onnx.GraphProto, config: dict[str, Any]) -> Path:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    onnx.save(model, folder / f"{name}.onnx")
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"path": f"{name}.onnx", **config}, sort_keys=False))
    return path


def _const(name: str, value: Any, dtype: Any = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def classifier(
    folder: Path, *, size: int = 8, name: str = "lesion", version: str = "1.0", **extra: Any
) -> Path:
    """``probability = sigmoid(mean(x over H, W) * w + b)``, x of shape (N, 1, size, size)."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", ["m", "w"], ["mw"]),
        helper.make_node("Add", ["mw", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        initializer=[_const("w", [CLASSIFIER_W]), _const("b", [CLASSIFIER_B])],
    )
    config = {
        "name": name,
        "version": version,
        "task": "classification",
        "description": "sigmoid of the mean, for tests",
        "inputs": [{"name": "x", "shape": [-1, 1, size, size], "dtype": "float32"}],
        "outputs": ["probability"],
        "preprocessing": {"voi": "lung", "size": [size, size], "normalise": "minmax"},
        "labels": ["lesion"],
        "thresholds": {"lesion": 0.5},
        "max_batch_size": 16,
        "max_wait_ms": 5,
        **extra,
    }
    return _save(folder, name, graph, config)


def expected_probability(x: np.ndarray) -> np.ndarray:
    """What :func:`classifier` computes, in numpy."""
    z = x.mean(axis=(2, 3)) * CLASSIFIER_W + CLASSIFIER_B
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def segmenter(folder: Path, *, size: int = 8, **extra: Any) -> Path:
    """``mask = x > 0.5`` as float, and ``probability = x``, both (N, 1, size, size)."""
    nodes = [
        helper.make_node("Identity", ["x"], ["probability"]),
        helper.make_node("Greater", ["x", "half"], ["above"]),
        helper.make_node("Cast", ["above"], ["mask"], to=TensorProto.FLOAT),
    ]
    shape: list[str | int | None] = ["N", 1, size, size]
    graph = helper.make_graph(
        nodes,
        "segmenter",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [
            helper.make_tensor_value_info("probability", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, shape),
        ],
        initializer=[_const("half", 0.5)],
    )
    config = {
        "name": "organs",
        "version": "2",
        "task": "segmentation",
        "inputs": [{"name": "x", "shape": [-1, 1, size, size], "dtype": "float32"}],
        "outputs": ["mask", "probability"],
        "labels": ["organ"],
        "max_batch_size": 8,
        "max_wait_ms": 2,
        **extra,
    }
    return _save(folder, "organs", graph, config)


def reshaper(folder: Path) -> Path:
    """Reshapes (N, 4) to (N, 2, 2): any request whose rows are not 4 long fails."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "target"], ["y"])],
        "reshaper",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "F"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 2])],
        initializer=[_const("target", [0, 2, 2], np.int64)],  # 0: keep N
    )
    config = {
        "name": "reshaper",
        "version": "1",
        "task": "detection",
        "inputs": [{"name": "x", "shape": [-1, -1], "dtype": "float32"}],
        "outputs": ["y"],
        "max_batch_size": 8,
    }
    return _save(folder, "reshaper", graph, config)


def lookup(folder: Path) -> Path:
    """``y = table[int(x)]`` with a 4-entry table: an x of 4 or more makes the model raise.

    A bad *value* (not shape) fails the whole batch it is in, which is what
    failure isolation has to untangle.
    """
    nodes = [
        helper.make_node("Cast", ["x"], ["index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "index"], ["y"], axis=0),
    ]
    graph = helper.make_graph(
        nodes,
        "lookup",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        initializer=[_const("table", [10.0, 11.0, 12.0, 13.0])],
    )
    config = {
        "name": "lookup",
        "version": "1",
        "task": "classification",
        "inputs": [{"name": "x", "shape": [-1, 1], "dtype": "float32"}],
        "outputs": ["y"],
        "max_batch_size": 8,
    }
    return _save(folder, "lookup", graph, config)


def small_cnn(folder: Path, *, size: int = 128, seed: int = 0) -> Path:
    """conv(1->8, 3x3) + relu + maxpool(2) + conv(8->16) + relu + global pool + gemm(16->2)."""
    rng = np.random.default_rng(seed)
    weights = [
        _const("w1", rng.normal(0, 0.3, (8, 1, 3, 3))),
        _const("b1", np.zeros(8)),
        _const("w2", rng.normal(0, 0.1, (16, 8, 3, 3))),
        _const("b2", np.zeros(16)),
        _const("w3", rng.normal(0, 0.2, (16, 2))),
        _const("b3", np.zeros(2)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        initializer=weights,
    )
    config = {
        "name": "cnn",
        "version": "1",
        "task": "classification",
        "inputs": [{"name": "x", "shape": [-1, 1, size, size], "dtype": "float32"}],
        "outputs": ["logits"],
        "labels": ["normal", "lesion"],
        "max_batch_size": 16,
        "max_wait_ms": 5,
    }
    return _save(folder, "cnn", graph, config)
