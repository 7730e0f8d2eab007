"""A de-identifying route exports the de-identified instances themselves.

dcmtk's storescp plays the research PACS. A route with ``deidentify: true``
and ``export: [research-pacs]`` and no model sends it a CT series, an SR and
an ECG (objects without pixels pass an export-only route, not quarantined
as "no pixel data"), all de-identified: none of the planted identifiers,
third-party names or original UIDs reach the bytes it receives.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from streamgale.dicom.deid import DeidConfig, Option
from streamgale.dicom.deid.pseudonyms import Pseudonymizer
from streamgale.dicom.delivery import DimseDestination
from streamgale.dicom.radiology.config import load_radiology_text
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from tests.dicom.delivery.conftest import StoreSCP, free_port, start_storescp
from tests.dicom.radiology.helpers import fast_settings, running

SECRET = b"0123456789abcdef-export-secret"
IDENTIFYING = ("Moriarty", "MRN-77001", "Irene", "Adler", "Hudson", "Baker")


def _planted(ds: Any) -> Any:
    ds.PatientName = "Moriarty^James"
    ds.PatientID = "MRN-77001"
    ds.PatientBirthDate = "19700101"
    ds.OtherPatientNames = "Hudson^Martha"
    ds.PatientComments = "wife Irene Adler at Baker Street"
    ds.StudyDescription = "CT chest for Irene Adler"
    ds.SeriesDescription = "Chest Moriarty"
    ds.ReferringPhysicianName = "Adler^Irene"
    return ds


def _report(study: Any) -> Any:
    sr = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    sr.StudyInstanceUID = study.StudyInstanceUID
    text = Dataset()
    text.RelationshipType, text.ValueType = "CONTAINS", "TEXT"
    text.TextValue = "Discussed with Irene Adler, mass of the left lung"
    sr.ContentSequence = [*sr.ContentSequence, text]
    return _planted(sr)


def _ecg() -> Any:
    return _planted(pydicom.dcmread(get_testdata_file("waveform_ecg.dcm")))


def _wait_for(scp: StoreSCP, n: int, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(scp.directory.iterdir())) >= n:
            time.sleep(0.2)  # storescp writes the last file before it answers
            return scp.received()
        time.sleep(0.1)
    raise AssertionError(f"the research PACS got {len(list(scp.directory.iterdir()))} of {n}")


def test_a_deidentifying_route_exports_deidentified_instances_to_a_real_pacs(
    tmp_path: Path,
) -> None:
    series = [_planted(ds) for ds in ct_series(slices=3, size=32, seed=5)]
    others = [_report(series[0]), _ecg()]
    originals = series + others
    scp = start_storescp(tmp_path / "research-pacs", free_port())
    try:
        settings = fast_settings(
            tmp_path,
            models=(),
            routes=(Route("research", export=("research-pacs",), deidentify=True),),
            destinations=(DimseDestination("research-pacs", "127.0.0.1", scp.port, "PACS"),),
            deid=DeidConfig(secret=SECRET, options={Option.CLEAN_DESCRIPTORS}),
            telemetry=False,
        )
        with running(settings) as app:
            write_instances(originals, tmp_path / "inbox")
            received = _wait_for(scp, len(originals))
            assert app.quarantine.list() == [], "an export-only route quarantined an instance"
    finally:
        scp.stop()
    pseudonyms = Pseudonymizer(SECRET)
    assert set(received) == {pseudonyms.uid(str(ds.SOPInstanceUID)) for ds in originals}
    for path in scp.directory.iterdir():
        raw = path.read_bytes()
        for text in IDENTIFYING:
            assert text.encode() not in raw, f"{text!r} reached the research PACS in {path.name}"
        for ds in originals:
            assert str(ds.SOPInstanceUID).encode() not in raw
            assert str(ds.StudyInstanceUID).encode() not in raw
    for ds in received.values():
        assert ds.PatientIdentityRemoved == "YES"
        assert "ContentSequence" not in ds or ds.Modality != "SR"
    kinds = {str(ds.Modality) for ds in received.values()}
    assert kinds == {"CT", "SR", "ECG"}
    ct = [ds for ds in received.values() if ds.Modality == "CT"]
    by_sop = {pseudonyms.uid(str(ds.SOPInstanceUID)): ds for ds in series}
    for ds in ct:  # the images themselves arrive, pixels intact
        assert ds.PixelData == by_sop[str(ds.SOPInstanceUID)].PixelData


def test_export_is_clear_yaml(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("SG_EXPORT_SECRET", "0123456789abcdef0123456789abcdef")
    settings = load_radiology_text(
        "radiology:\n"
        "  deidentify: {secret_env: SG_EXPORT_SECRET}\n"
        "  routes:\n"
        "    - {name: research, deidentify: true, export: [research-pacs]}\n"
        "  destinations:\n"
        "    research-pacs: {dimse: {port: 4242, ae_title: RESEARCH}}\n",
        "r.yaml",
        base_dir=tmp_path,
    )
    assert settings.routes[0].export == ("research-pacs",)
