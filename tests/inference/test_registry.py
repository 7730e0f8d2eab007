"""ModelRegistry: several models, each loaded once, found by name and version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamgale.errors import ConfigError
from streamgale.inference import ModelRegistry, load_model_config
from tests.inference import onnx_models


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v10").mkdir()
    (tmp_path / "v9").mkdir()
    return ModelRegistry.from_files(
        [
            onnx_models.classifier(tmp_path / "v1", version="1"),
            onnx_models.classifier(tmp_path / "v10", version="1.10"),
            onnx_models.classifier(tmp_path / "v9", version="1.9"),
            onnx_models.segmenter(tmp_path),
        ],
        environ={},
    )


def test_get_by_name_version_and_newest(registry: ModelRegistry) -> None:
    assert len(registry) == 4
    assert registry.refs() == ["lesion@1", "lesion@1.10", "lesion@1.9", "organs@2"]
    assert registry.get("lesion", "1.9").ref == "lesion@1.9"
    assert registry.get("lesion@1").ref == "lesion@1"
    assert registry.get("lesion").ref == "lesion@1.10"  # newest, compared naturally
    assert registry.get("organs").config.task == "segmentation"
    assert "organs@2" in registry and "organs@3" not in registry and 3 not in registry


def test_models_run_side_by_side(registry: ModelRegistry) -> None:
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    lesion = registry.get("lesion")
    organs = registry.get("organs")
    assert lesion is registry.get("lesion", "1.10")  # the same warm session every time
    probability = lesion.run(x)["probability"]
    mask = organs.run(x)["mask"]
    np.testing.assert_allclose(probability, onnx_models.expected_probability(x), rtol=1e-5)
    np.testing.assert_array_equal(mask, (x > 0.5).astype(np.float32))
    assert {s.ref for s in registry} == set(registry.refs())


def test_unknown_and_duplicate_models(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no model 'lesion@2' is loaded; loaded: lesion@1, "):
        registry.get("lesion", "2")
    with pytest.raises(ConfigError, match="no model 'liver' is loaded"):
        registry.get("liver")
    with pytest.raises(ConfigError, match="lesion@1 is loaded already"):
        registry.add(load_model_config(tmp_path / "v1" / "lesion.yaml"))
