"""Results for what real senders send: multi-frame, colour, RLE, legacy values, late series.

One running app takes every case through its inbox folder (prepare, infer,
collect, finalize); each result is checked with dciodvfy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from streamgale.dicom.radiology.finalize import ResultSummary
from streamgale.dicom.results import dciodvfy_problems
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from tests.dicom.radiology.helpers import fast_settings, organs_model, running
from tests.dicom.results.conftest import require_tool

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("finalize")
    (tmp / "inbox").mkdir()
    settings = fast_settings(
        tmp,
        models=(organs_model(tmp),),
        routes=(Route("all", modalities={"CT", "OT"}, models=("organs",)),),
        telemetry=False,
    )
    with running(settings) as app:
        yield app


def _process(app: Any, datasets: list[Any], version: int = 1) -> ResultSummary:
    """Drop ``datasets`` into the inbox; the study's result of ``version``."""
    study = str(datasets[0].StudyInstanceUID)
    inbox = app.settings.folder
    staging = inbox.parent / "staging" / f"{study}-{version}"
    for path in write_instances(datasets, staging):
        path.rename(inbox / f"{study}-{version}-{path.name}")  # atomic, as a careful writer
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = [s for s in app.summaries if s.study_instance_uid == study and s.version == version]
        if done:
            return done[0]
        stuck = [e for e in app.quarantine.list() if e.study_instance_uid == study]
        assert not stuck, f"quarantined instead of a result: {stuck[0].reason}"
        time.sleep(0.05)
    pytest.fail(f"no result version {version} for study {study} within 30 s")


def _valid(path: str | None) -> Any:
    require_tool("dciodvfy")
    assert path is not None
    data = Path(path).read_bytes()
    assert dciodvfy_problems(data) == []
    return pydicom.dcmread(path)


def _multi_frame(series: list[Any]) -> Any:
    """The slices of ``series`` as the frames of one (legacy, single-position) CT instance."""
    ds = series[0]
    ds.NumberOfFrames = len(series)
    ds.PixelData = b"".join(s.PixelData for s in series)
    return ds


def _rgb_secondary_capture(series: list[Any], *, frames: int = 1) -> list[Any]:
    """Colour Secondary Capture images, RLE compressed, from the phantom's slices."""
    out = []
    for first in range(0, len(series), frames):
        ds = series[first]
        grey = np.stack([s.pixel_array for s in series[first : first + frames]])
        grey = np.clip((grey.astype(np.int32) - 24) / 8, 0, 255).astype(np.uint8)
        rgb = np.repeat(grey[..., np.newaxis], 3, axis=-1)
        for keyword in (
            "RescaleIntercept",
            "RescaleSlope",
            "WindowCenter",
            "WindowWidth",
            "FrameOfReferenceUID",
            "ImagePositionPatient",
            "ImageOrientationPatient",
            "SliceLocation",
            "SliceThickness",
        ):
            if keyword in ds:
                delattr(ds, keyword)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
        ds.Modality = "OT"
        ds.ConversionType = "WSD"
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        if frames > 1:
            ds.NumberOfFrames = frames
        ds.PixelData = rgb.tobytes()
        ds.compress(RLELossless)
        out.append(ds)
    return out


def test_a_multi_frame_instance_with_a_finding_gets_a_result(app: Any) -> None:
    series = ct_series(slices=4, size=64, lesion=True, seed=21, patient_id="MF")
    summary = _process(app, [_multi_frame(series)])
    assert summary.present and summary.instances == 1
    sr = _valid(summary.sr_path)
    assert str(sr.StudyInstanceUID) == str(series[0].StudyInstanceUID)
    # One legacy instance does not say where its frames are: the SR alone.
    assert summary.seg_path is None


def test_legacy_study_time_does_not_break_sr_or_seg(app: Any) -> None:
    series = ct_series(slices=3, size=64, lesion=True, seed=22, patient_id="TIME")
    for ds in series:
        ds.StudyTime = "14:04:38"
    summary = _process(app, series)
    assert _valid(summary.sr_path).StudyTime == "140438"
    assert _valid(summary.seg_path).StudyTime == "140438"


def test_an_rgb_rle_image_gets_sr_and_seg(app: Any) -> None:
    series = ct_series(slices=1, size=64, lesion=True, seed=24, patient_id="RGB")
    summary = _process(app, _rgb_secondary_capture(series))
    assert summary.present and 0.0 <= summary.probability <= 1.0
    _valid(summary.sr_path)
    assert _valid(summary.seg_path).NumberOfFrames == 1


def test_rgb_rle_images_without_a_frame_of_reference_get_an_sr(app: Any) -> None:
    # Nothing says where two frames lie relative to each other: no SEG, the SR alone.
    series = ct_series(slices=4, size=64, lesion=True, seed=25, patient_id="RGB2")
    summary = _process(app, _rgb_secondary_capture(series, frames=2))
    assert summary.present and summary.instances == 2
    _valid(summary.sr_path)
    assert summary.seg_path is None


def _evidence(sr: Any) -> set[tuple[str, str]]:
    return {
        (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))
        for evidence in sr.CurrentRequestedProcedureEvidenceSequence
        for series in evidence.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }


def test_version_2_with_a_new_seg_still_lists_the_earlier_one(app: Any) -> None:
    first = ct_series(slices=3, size=64, lesion=True, seed=33, patient_id="LATE2")
    v1 = _process(app, first)
    late = ct_series(
        slices=3,
        size=64,
        lesion=True,
        seed=34,
        series_number=2,
        study_uid=str(first[0].StudyInstanceUID),
    )
    v2 = _process(app, late, version=2)
    assert v1.seg_path is not None and v2.seg_path is not None and v2.seg_path != v1.seg_path
    sr = _valid(v2.sr_path)
    segs = [pydicom.dcmread(p).SOPInstanceUID for p in (v1.seg_path, v2.seg_path)]
    assert {(SEGMENTATION, str(uid)) for uid in segs} <= _evidence(sr)


def test_version_2_keeps_the_seg_reference_of_the_study(app: Any) -> None:
    first = ct_series(slices=3, size=64, lesion=True, seed=31, patient_id="LATE")
    v1 = _process(app, first)
    assert v1.seg_path is not None
    # A late series of air only: nothing found in it, nothing new to segment.
    late = ct_series(
        slices=2, size=64, seed=32, series_number=2, study_uid=str(first[0].StudyInstanceUID)
    )
    for ds in late:
        ds.PixelData = np.full((64, 64), 24, dtype=np.uint16).tobytes()  # -1000 HU
    v2 = _process(app, late, version=2)
    assert v2.present and v2.seg_path is not None
    seg = pydicom.dcmread(v1.seg_path)
    sr = _valid(v2.sr_path)
    referenced = {
        (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))
        for evidence in sr.CurrentRequestedProcedureEvidenceSequence
        for series in evidence.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    assert (SEGMENTATION, str(seg.SOPInstanceUID)) in referenced
    assert str(
        sr.PredecessorDocumentsSequence[0]
        .ReferencedSeriesSequence[0]
        .ReferencedSOPSequence[0]
        .ReferencedSOPInstanceUID
    ) == str(pydicom.dcmread(v1.sr_path).SOPInstanceUID)


def test_the_study_timings_include_building_the_sr(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamgale.dicom.radiology import finalize

    build_sr = finalize.build_sr

    def slow_build_sr(*args: Any, **kwargs: Any) -> Any:
        sr = build_sr(*args, **kwargs)
        time.sleep(0.3)  # stands for a large study's SR
        return sr

    monkeypatch.setattr(finalize, "build_sr", slow_build_sr)
    series = ct_series(slices=2, size=64, lesion=True, seed=41, patient_id="TIMED")
    summary = _process(app, series)
    assert summary.timings_ms["results"] >= 300
    assert summary.timings_ms["last_instance_to_result"] >= 300


def test_finalize_takes_the_headers_prepare_parsed(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finalizing thread does not read the instances back (it held the GIL ~0.3 ms
    per instance doing so); the SR still carries each source's header values."""
    read_back: list[Any] = []
    dcmread = pydicom.dcmread

    def counting(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("stop_before_pixels") and isinstance(args[0], (str, Path)):
            read_back.append(args[0])  # a stored file (the doors parse bytes in memory)
        return dcmread(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting)
    series = ct_series(slices=3, size=64, lesion=True, seed=43, patient_id="CACHED")
    summary = _process(app, series)
    assert read_back == []
    sr = dcmread(summary.sr_path)
    assert sr.PatientID == "CACHED"
    assert sr.StudyInstanceUID == series[0].StudyInstanceUID


def test_a_running_service_lets_threads_keep_the_gil_1_ms_at_most(app: Any) -> None:
    """Python's default 5 ms let the finalizing thread hold up each GIL hand-back of the
    driver (file reads, numpy, ONNX) by up to 5 ms (bench/gil_contention.py)."""
    import sys

    assert sys.getswitchinterval() <= 0.001
