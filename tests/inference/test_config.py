"""Model configs: YAML round trips, and every error naming file, line, key and allowed values."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from streamgale.config.document import parse_document
from streamgale.errors import ConfigError
from streamgale.inference import (
    ModelConfig,
    TensorSpec,
    load_model_config,
    load_model_config_text,
    model_config_from_node,
)
from tests.inference import onnx_models

GOOD = """\
name: lesion
version: "1.0"
path: lesion.onnx
task: classification
description: test model
inputs:
  - name: x
    shape: [-1, 1, 8, 8]
    dtype: float32
outputs: [probability]
preprocessing:
  voi: lung
  size: [8, 8]
  normalise: minmax
  spacing: [0.7, 0.7]
labels: [lesion, nodule]
thresholds:
  lesion: 0.5
  nodule: 0.25
max_batch_size: 8
max_wait_ms: 2.5
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "lesion.onnx").write_bytes(b"placeholder; configs do not read the model")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "model.yaml"
    path.write_text(text)
    return path


def test_loads_every_field(folder: Path) -> None:
    config = load_model_config(write(folder, GOOD))
    assert config.name == "lesion"
    assert config.version == "1.0"
    assert config.ref == "lesion@1.0"
    assert config.path == folder / "lesion.onnx"
    assert config.task == "classification"
    assert config.inputs == (TensorSpec("x", (None, 1, 8, 8), "float32"),)
    assert config.outputs == ("probability",)
    assert dict(config.preprocessing) == {
        "voi": "lung",
        "size": (8, 8),
        "normalise": "minmax",
        "spacing": (0.7, 0.7),
    }
    assert config.labels == ("lesion", "nodule")
    assert dict(config.thresholds) == {"lesion": 0.5, "nodule": 0.25}
    assert config.max_batch_size == 8
    assert config.max_wait_ms == 2.5
    assert config.max_wait == pytest.approx(0.0025)
    assert config.description == "test model"


def test_defaults(folder: Path) -> None:
    text = "name: m\nversion: 3\npath: lesion.onnx\ntask: detection\n"
    text += "inputs: [{name: x, shape: [null, 4]}]\noutputs: [y]\n"
    config = load_model_config(write(folder, text))
    assert config.version == "3"  # a whole number is fine; it becomes text
    assert config.inputs[0].dtype == "float32"
    assert (config.max_batch_size, config.max_wait_ms) == (16, 5.0)
    assert config.labels == () and dict(config.thresholds) == {}
    assert dict(config.preprocessing) == {}


def test_yaml_round_trip(folder: Path) -> None:
    config = load_model_config(write(folder, GOOD))
    again = folder / "again.yaml"
    again.write_text(yaml.safe_dump(config.to_dict(base_dir=folder)))
    assert yaml.safe_load(again.read_text())["path"] == "lesion.onnx"  # stays relative
    assert load_model_config(again) == config


def test_window_and_stats_mappings_round_trip(folder: Path) -> None:
    text = GOOD.replace("voi: lung", "voi: {center: -600, width: 1500}").replace(
        "normalise: minmax", "normalise: {mean: 0.1, std: 0.2}"
    )
    config = load_model_config(write(folder, text))
    assert dict(config.preprocessing["voi"]) == {"center": -600.0, "width": 1500.0}
    assert dict(config.preprocessing["normalise"]) == {"mean": 0.1, "std": 0.2}
    again = folder / "again.yaml"
    again.write_text(yaml.safe_dump(config.to_dict(base_dir=folder)))
    assert load_model_config(again) == config


def test_pickle_round_trip(folder: Path) -> None:
    config = load_model_config(write(folder, GOOD))
    assert pickle.loads(pickle.dumps(config)) == config


def test_config_is_frozen_and_read_only(folder: Path) -> None:
    config = load_model_config(write(folder, GOOD))
    with pytest.raises(AttributeError):
        config.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.thresholds["lesion"] = 0.9  # type: ignore[index]
    with pytest.raises(TypeError):
        config.preprocessing["voi"] = "bone"  # type: ignore[index]


def test_built_from_python_and_validated() -> None:
    config = ModelConfig(
        "m", "1", Path("m.onnx"), "segmentation", (TensorSpec("x", (-1, 1, 4, 4)),), ("mask",)
    )
    assert config.inputs[0].shape == (None, 1, 4, 4)
    with pytest.raises(ConfigError, match=r"key 'max_batch_size'.*between 1 and 4096"):
        ModelConfig(
            "m", "1", Path("m.onnx"), "segmentation", config.inputs, ("y",), max_batch_size=0
        )
    with pytest.raises(ConfigError, match=r"key 'shape\[0\]'.*batch.*dynamic"):
        TensorSpec("x", (2, 4))
    assert TensorSpec("serving_default/input:0", (-1, 3)).name == "serving_default/input:0"
    with pytest.raises(ConfigError, match="key 'name': expected the model's input name"):
        TensorSpec("", (-1, 3))


# Every error: (what to replace in GOOD, by what, expected line, expected key, text in message)
ERRORS = [
    (
        "task: classification",
        "task: regression",
        4,
        "task",
        "allowed: classification, segmentation, detection",
    ),
    ("name: lesion\n", "name: les ion\n", 1, "name", "letters, digits"),
    ('version: "1.0"', "version: 1.0", 2, "version", 'in quotes: version: "1.0"'),
    ("max_batch_size: 8", "max_batch_size: 0", 20, "max_batch_size", "between 1 and 4096"),
    ("max_batch_size: 8", "max_batch_size: many", 20, "max_batch_size", "between 1 and 4096"),
    ("max_wait_ms: 2.5", "max_wait_ms: -1", 21, "max_wait_ms", ">= 0 and <= 60000"),
    (
        "    dtype: float32",
        "    dtype: float",
        9,
        "inputs[0].dtype",
        "allowed: float32, float16, float64, uint8",
    ),
    (
        "    shape: [-1, 1, 8, 8]",
        "    shape: [4, 1, 8, 8]",
        8,
        "inputs[0].shape[0]",
        "must be dynamic (-1 or null)",
    ),
    (
        "    shape: [-1, 1, 8, 8]",
        "    shape: [-1, 0, 8, 8]",
        8,
        "inputs[0].shape[1]",
        "positive whole number, -1 or null",
    ),
    (
        "    dtype: float32",
        "    dtype: float32\n    layout: NCHW",
        10,
        "inputs[0].layout",
        "allowed: name, shape, dtype",
    ),
    (
        "  - name: x\n    shape: [-1, 1, 8, 8]\n",
        "  - name: x\n",
        7,
        "inputs[0]",
        "missing required key 'shape'",
    ),
    (
        "inputs:\n",
        "inputz:\n",
        6,
        "inputz",
        "unknown key 'inputz'; allowed: name, version, path, task",
    ),
    ("outputs: [probability]", "outputs: []", 10, "outputs", "at least one name"),
    ("outputs: [probability]", "outputs: [p, p]", 10, "outputs[1]", "listed twice"),
    (
        "  voi: lung",
        "  voi: lungs",
        12,
        "preprocessing.voi",
        "allowed: lung, mediastinum, soft_tissue, bone, brain, liver, abdomen, dataset or a "
        "mapping {center, width}",
    ),
    ("  voi: lung", "  voi: {center: 40, width: 0}", 12, "preprocessing.voi.width", ">= 1"),
    ("  voi: lung", "  voi: {center: 40}", 12, "preprocessing.voi", "missing required key 'width'"),
    ("  size: [8, 8]", "  size: [8]", 13, "preprocessing.size", "2 or 3 positive whole numbers"),
    ("  size: [8, 8]", "  size: [8, -8]", 13, "preprocessing.size[1]", "between 1 and 65535"),
    (
        "  normalise: minmax",
        "  normalise: max",
        14,
        "preprocessing.normalise",
        "allowed: none, minmax, zscore or a mapping {mean, std}",
    ),
    ("  spacing: [0.7, 0.7]", "  spacing: [0.7, 0]", 15, "preprocessing.spacing[1]", "> 0"),
    (
        "  spacing: [0.7, 0.7]",
        "  spacing: [0.7, 0.7]\n  window: lung",
        16,
        "preprocessing.window",
        "allowed: voi, size, normalise, spacing",
    ),
    ("labels: [lesion, nodule]", "labels: lesion", 16, "labels", "expected a list of names"),
    (
        "  nodule: 0.25",
        "  mass: 0.25",
        19,
        "thresholds.mass",
        "'mass' is not one of the labels; allowed: lesion, nodule",
    ),
    ("  nodule: 0.25", "  nodule: 1.5", 19, "thresholds.nodule", ">= 0 and <= 1"),
    ("path: lesion.onnx", "path: missing.onnx", 3, "path", "missing.onnx does not exist"),
    ("task: classification\n", "", 1, "task", "missing required key 'task'"),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "allowed"), ERRORS)
def test_error_names_file_line_key_and_allowed(
    folder: Path, old: str, new: str, line: int, key: str, allowed: str
) -> None:
    assert old in GOOD
    path = write(folder, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_model_config(path)
    error = caught.value
    assert (error.source, error.line, error.key) == (str(path), line, key)
    assert str(error).startswith(f"{path}:{line}, key '{key}': ")
    assert allowed in str(error)


def test_not_yaml_names_the_line(folder: Path) -> None:
    path = write(folder, GOOD.replace("labels: [lesion, nodule]", "labels: [lesion, nodule"))
    with pytest.raises(ConfigError, match=r"model.yaml:\d+: not valid YAML") as caught:
        load_model_config(path)
    assert caught.value.line is not None


def test_empty_and_unreadable_files(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.yaml:1: the model config is empty"):
        load_model_config(write(folder, "\n"))
    with pytest.raises(ConfigError, match="cannot read the model config"):
        load_model_config(folder / "nope.yaml")
    with pytest.raises(ConfigError, match="expected a model config mapping"):
        load_model_config_text("- a\n- b\n", "list.yaml", base_dir=folder)


def test_entry_of_a_pipeline_file_reports_its_full_key(folder: Path) -> None:
    """The pipeline YAML (radiology.yaml) embeds model configs under ``models:``."""
    text = "models:\n  - " + GOOD.replace("\n", "\n    ").replace("task: classification", "task: x")
    root = parse_document(text, "radiology.yaml")
    entry = root.mapping()["models"].sequence()[0]
    with pytest.raises(ConfigError) as caught:
        model_config_from_node(entry, folder)
    assert caught.value.key == "models[0].task"
    assert caught.value.line == 5
    good = parse_document(text.replace("task: x", "task: detection"), "radiology.yaml")
    config = model_config_from_node(good.mapping()["models"].sequence()[0], folder)
    assert config.task == "detection"


def test_builder_configs_load(tmp_path: Path) -> None:
    for build in (onnx_models.classifier, onnx_models.segmenter, onnx_models.reshaper):
        assert load_model_config(build(tmp_path)).path.is_file()


def test_preprocessing_vocabulary_agrees_with_the_pixels_package() -> None:
    """inference keeps its own copy (it must load without the dicom extra); keep them equal."""
    from streamgale.dicom.pixels import PREPROCESS_KEYS, VoiPreset
    from streamgale.dicom.pixels.lut import DATASET_VOI
    from streamgale.inference._checks import PREPROCESSING_KEYS, VOI_PRESETS

    assert set(PREPROCESSING_KEYS) == set(PREPROCESS_KEYS)
    assert set(VOI_PRESETS) == {p.value for p in VoiPreset} | {DATASET_VOI}
