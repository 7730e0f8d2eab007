"""Real files whose SEG cannot be built still get their result (the SR); a SEG is no model input.

pydicom's own test files, through a running app's inbox folder: a CT without
Frame of Reference UID, an MR localizer whose images have three orientations,
and a Segmentation sent as if it were an image. Quarantine entries made after
validation name the door the instance came by.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from streamgale.dicom.quality import QuarantineEntry
from streamgale.dicom.radiology.finalize import ResultSummary
from streamgale.dicom.results import dciodvfy_problems
from streamgale.dicom.routing import Route
from streamgale.inference import load_model_config
from tests.dicom.radiology.helpers import fast_settings, organs_model, running
from tests.dicom.results.conftest import require_tool
from tests.inference.onnx_models import segmenter


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("finalize-real")
    (tmp / "inbox").mkdir()
    settings = fast_settings(
        tmp,
        models=(organs_model(tmp),),
        routes=(Route("all", models=("organs",)),),
        telemetry=False,
    )
    with running(settings) as app:
        yield app


def _send(app: Any, files: list[Path]) -> str:
    """Copy ``files`` into the inbox (atomically); their Study Instance UID."""
    inbox = app.settings.folder
    staging = inbox.parent / "staging"
    staging.mkdir(exist_ok=True)
    for i, path in enumerate(files):
        copy = Path(shutil.copy(path, staging / f"{time.monotonic_ns()}-{i}.dcm"))
        copy.rename(inbox / copy.name)
    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def _result(app: Any, study: str) -> ResultSummary:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = [s for s in app.summaries if s.study_instance_uid == study]
        if done:
            return done[0]
        stuck = [e for e in app.quarantine.list() if e.study_instance_uid == study]
        assert not stuck, f"quarantined instead of a result: {stuck[0].reason}"
        time.sleep(0.05)
    pytest.fail(f"no result for study {study} within 30 s")


def _quarantined(app: Any, sop_instance_uid: str) -> QuarantineEntry:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [e for e in app.quarantine.list() if e.sop_instance_uid == sop_instance_uid]
        if found:
            return found[0]
        time.sleep(0.05)
    pytest.fail(f"{sop_instance_uid} was not quarantined within 30 s")


def _valid_sr(summary: ResultSummary) -> Any:
    require_tool("dciodvfy")
    assert summary.sr_path is not None
    assert dciodvfy_problems(Path(summary.sr_path).read_bytes()) == []
    return pydicom.dcmread(summary.sr_path)


def _testdata(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom's test file {name} is missing"
    return Path(path)


def test_a_ct_without_frame_of_reference_gets_its_sr(app: Any) -> None:
    # The CT IOD requires a Frame of Reference, so no SEG can reference this image.
    source = _testdata("693_J2KI.dcm")
    assert "FrameOfReferenceUID" not in pydicom.dcmread(source, stop_before_pixels=True)
    summary = _result(app, _send(app, [source]))
    assert summary.present, "the segmenter must find something, or no SEG is tried"
    assert summary.instances == 1 and summary.seg_path is None
    sr = _valid_sr(summary)
    assert str(sr.StudyInstanceUID) == summary.study_instance_uid


def test_an_mr_localizer_in_three_orientations_gets_its_sr(app: Any) -> None:
    # One series, three planes (a 3-plane localizer): a SEG's frames share one orientation.
    folder = _testdata("dicomdirtests/98892003/MR2/4950").parent
    files = [folder / name for name in ("4950", "4981", "5011")]
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    assert len({h.SeriesInstanceUID for h in headers}) == 1
    assert len({tuple(h.ImageOrientationPatient) for h in headers}) == 3
    summary = _result(app, _send(app, files))
    assert summary.present and summary.instances == 3
    assert summary.seg_path is None
    _valid_sr(summary)


def test_a_segmentation_sent_as_input_is_quarantined_at_validation_saying_why(
    app: Any,
) -> None:
    source = _testdata("liver_1frame.dcm")
    sop = str(pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID)
    _send(app, [source])
    entry = _quarantined(app, sop)
    assert entry.stage.value == "validation"
    assert "Segmentation Storage is a result" in entry.reason
    assert entry.source.value == "folder"


def test_an_inference_failure_is_quarantined_under_the_door_it_came_by(tmp_path: Path) -> None:
    # The model takes 8 x 8 inputs but is fed 32 x 32: every request fails in ONNX Runtime.
    model = load_model_config(
        segmenter(tmp_path, size=8, preprocessing={"voi": "lung", "size": [32, 32]})
    )
    (tmp_path / "inbox").mkdir()
    settings = fast_settings(
        tmp_path, models=(model,), routes=(Route("all", models=("organs",)),), telemetry=False
    )
    source = _testdata("CT_small.dcm")
    sop = str(pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID)
    with running(settings) as app:
        _send(app, [source])
        entry = _quarantined(app, sop)
    assert entry.stage.value == "inference"
    assert entry.source.value == "folder"  # was "api"


def test_a_result_that_cannot_be_stored_is_quarantined_under_the_door_it_came_by(
    app: Any,
) -> None:
    source = _testdata("CT_small.dcm")
    header = pydicom.dcmread(source, stop_before_pixels=True)
    # A file where the result store's folder for this study goes: storing fails (not for space).
    digest = hashlib.sha256(str(header.StudyInstanceUID).encode()).hexdigest()[:2]
    blocker = app.results.directory / digest
    assert not blocker.exists(), "another study of this module uses that folder"
    blocker.write_bytes(b"")
    try:
        _send(app, [source])
        entry = _quarantined(app, str(header.SOPInstanceUID))
    finally:
        blocker.unlink()
    assert entry.stage.value == "results"
    assert entry.source.value == "folder"  # was "api"
