"""The committed DEMO lesion model: it loads, has the declared shape, is fast, and still works.

Runs with ONNX Runtime only (no torch). The quality tests feed fresh synthetic
studies through the DICOM path the pipeline uses (Part 10 bytes -> pixel_array
-> modality LUT -> lung window -> resize to 128) and fail if the model has
been replaced by a broken one. Thresholds sit a margin below the accuracy
measured on the 1,000-slice held-out sets (see demo_lesion/MODEL_CARD.md).
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pydicom
import pytest
import yaml

from streamgale.dicom.synthetic import ct_series, phantom_slice
from streamgale.errors import ConfigError
from streamgale.models import (
    DEMO_MODEL_NAME,
    demo_model_config_path,
    demo_model_dir,
    demo_model_path,
)

# Measured by tools/train_demo_model.py on 1,000 held-out DICOM-path slices: accuracy,
# sensitivity and specificity 1.000, lesion-slice Dice 0.991 (demo_lesion/metrics.json).
# The margins absorb the small fresh sets used here; a broken model falls far below.
MIN_ACCURACY = 0.95
MIN_SENSITIVITY = 0.90
MIN_SPECIFICITY = 0.95
MIN_DICE = 0.90
LUNG_CENTER, LUNG_WIDTH = -600.0, 1500.0


def lung_window(hu: np.ndarray) -> np.ndarray:
    """The linear VOI function of PS3.3 C.11.2.1.2.1 for the lung preset, mapped to [0, 1]."""
    scaled = (hu.astype(np.float32) - (LUNG_CENTER - 0.5)) / (LUNG_WIDTH - 1.0) + 0.5
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def area_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Block-mean downsampling by an integer factor."""
    f = image.shape[0] // size
    return image.reshape(size, f, size, f).mean(axis=(1, 3), dtype=np.float32)


def dicom_path_tensor(ds: Any) -> np.ndarray:
    """One instance as the pipeline feeds it: write, read back, LUT, window, resize."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    read = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    hu = read.pixel_array * float(read.RescaleSlope) + float(read.RescaleIntercept)
    return area_resize(lung_window(hu), 128)[None]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load(demo_model_config_path().read_text())


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(demo_model_path()), options, providers=["CPUExecutionProvider"])


def test_package_data_is_found_next_to_each_other() -> None:
    assert demo_model_dir().name == "demo_lesion"
    assert demo_model_path().is_file()
    assert demo_model_config_path().is_file()
    assert (demo_model_dir() / "MODEL_CARD.md").is_file()


def test_model_card_says_plainly_it_is_a_demo() -> None:
    card = (demo_model_dir() / "MODEL_CARD.md").read_text()
    assert "DEMO MODEL" in card
    assert "not for clinical use" in card.lower()
    assert "bring your own model" in card.lower()
    assert "tools/train_demo_model.py" in card


def test_config_declares_the_model(config: dict[str, Any]) -> None:
    assert config["name"] == DEMO_MODEL_NAME
    assert config["version"] == "1.0.0"
    assert (demo_model_config_path().parent / config["path"]) == demo_model_path()
    assert config["task"] == "segmentation"
    assert config["inputs"] == [{"name": "image", "shape": [-1, 1, 128, 128], "dtype": "float32"}]
    assert config["outputs"] == ["mask", "lesion_probability"]
    assert config["preprocessing"] == {"voi": "lung", "size": [128, 128], "normalise": "none"}
    assert config["labels"] == ["lesion"]
    assert 0.0 < config["thresholds"]["lesion"] < 1.0
    assert config["max_batch_size"] == 16
    assert config["max_wait_ms"] == 5
    assert "DEMO MODEL" in config["description"]


def test_onnx_file_is_small_valid_opset_17_and_marked_demo() -> None:
    path = demo_model_path()
    assert path.stat().st_size < 1_000_000
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["demo"] == "true"
    assert meta["name"] == DEMO_MODEL_NAME
    assert "not for clinical use" in model.doc_string


def test_session_io_matches_the_config(session: ort.InferenceSession) -> None:
    (image,) = session.get_inputs()
    assert (image.name, image.type) == ("image", "tensor(float)")
    assert image.shape[1:] == [1, 128, 128]
    assert isinstance(image.shape[0], str), "the batch dimension must be symbolic (dynamic)"
    assert [o.name for o in session.get_outputs()] == ["mask", "lesion_probability"]


@pytest.mark.parametrize("batch", [1, 8])
def test_batch_dimension_is_dynamic(session: ort.InferenceSession, batch: int) -> None:
    rng = np.random.default_rng(batch)
    slices = [lung_window(phantom_slice(128, rng, lesion=i % 2 == 0)[0]) for i in range(batch)]
    x = np.stack(slices)[:, None]
    mask, prob = session.run(None, {"image": x})
    assert mask.shape == (batch, 1, 128, 128) and mask.dtype == np.float32
    assert prob.shape == (batch, 1) and prob.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    # A slice's answer must not depend on what else is in the batch.
    alone_mask, alone_prob = session.run(None, {"image": x[-1:]})
    np.testing.assert_allclose(alone_prob, prob[-1:], atol=1e-5)
    np.testing.assert_allclose(alone_mask, mask[-1:], atol=1e-5)


def test_cpu_latency_is_reported(
    session: ort.InferenceSession, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reports ms per call for batch 1 and 16; timing is not asserted (shared CI machines)."""
    timings = {}
    for batch in (1, 16):
        x = np.zeros((batch, 1, 128, 128), dtype=np.float32)
        session.run(None, {"image": x})  # warm-up
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            mask, _prob = session.run(None, {"image": x})
            runs.append((time.perf_counter() - started) * 1000)
        assert mask.shape[0] == batch
        timings[batch] = float(np.median(runs))
        record_property(f"demo_model_ms_batch_{batch}", round(timings[batch], 2))
    with capsys.disabled():
        print(
            f"\n[demo model CPU] batch 1: {timings[1]:.1f} ms, batch 16: {timings[16]:.1f} ms "
            f"({timings[16] / 16:.2f} ms/image)"
        )
    assert all(t > 0 for t in timings.values())


def test_quality_through_the_dicom_path(
    session: ort.InferenceSession, config: dict[str, Any]
) -> None:
    # Seeds the training script never used; 4 series x 15 slices = 20 lesion, 40 clear.
    datasets = [
        ds
        for k in range(4)
        for ds in ct_series(slices=15, size=512, lesion=True, seed=90_210 + k, patient_id=f"T{k}")
    ]
    x = np.stack([dicom_path_tensor(ds) for ds in datasets])
    truth = np.array([ds.ImageComments == "lesion" for ds in datasets])
    _mask, prob = session.run(None, {"image": x})
    predicted = prob[:, 0] >= config["thresholds"]["lesion"]
    accuracy = float((predicted == truth).mean())
    sensitivity = float(predicted[truth].mean())
    specificity = float((~predicted[~truth]).mean())
    summary = (
        f"accuracy {accuracy:.3f}, sensitivity {sensitivity:.3f}, specificity {specificity:.3f}"
    )
    assert truth.sum() == 20, "the synthetic series no longer put lesions in the middle third"
    assert accuracy >= MIN_ACCURACY, summary
    assert sensitivity >= MIN_SENSITIVITY, summary
    assert specificity >= MIN_SPECIFICITY, summary


def test_masks_land_on_the_lesions(session: ort.InferenceSession, config: dict[str, Any]) -> None:
    rng = np.random.default_rng(31_337)
    dices = []
    for _ in range(12):
        hu, spec = phantom_slice(512, rng, lesion=True)
        mask, _prob = session.run(None, {"image": area_resize(lung_window(hu), 128)[None, None]})
        rr, cc = np.mgrid[0:512, 0:512]
        disc = np.zeros((512, 512), dtype=np.float32)
        for row, col, radius in spec.lesions:
            disc[(rr - row) ** 2 + (cc - col) ** 2 <= radius**2] = 1.0
        gt = area_resize(disc, 128) >= 0.5
        pred = mask[0, 0] >= config["thresholds"]["lesion"]
        dices.append(2 * (pred & gt).sum() / max(pred.sum() + gt.sum(), 1))
    assert float(np.mean(dices)) >= MIN_DICE, f"mean Dice {np.mean(dices):.3f} on 12 slices"


def test_lesion_free_phantom_gives_an_empty_mask(
    session: ort.InferenceSession, config: dict[str, Any]
) -> None:
    hu, spec = phantom_slice(512, np.random.default_rng(5), lesion=False)
    assert spec.lesions == ()
    mask, prob = session.run(None, {"image": area_resize(lung_window(hu), 128)[None, None]})
    assert float(prob[0, 0]) < config["thresholds"]["lesion"]
    assert int((mask >= config["thresholds"]["lesion"]).sum()) == 0


def test_missing_package_data_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import streamgale.models as models

    monkeypatch.setattr(models, "_DEMO_DIR", "no_such_model")
    with pytest.raises(ConfigError, match="demo model's files were not found"):
        models.demo_model_path()
