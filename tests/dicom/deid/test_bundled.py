"""pydicom's bundled vendor files de-identify, write, and read back with dcmtk and pydicom."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from streamgale.dicom.deid import Option, Pseudonymizer, deidentify
from tests.dicom.deid.conftest import SECRET, config, rich_series

FILES = [
    "CT_small.dcm",  # CT, GE
    "693_J2KI.dcm",  # CT, JPEG 2000
    "MR_small.dcm",  # MR
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "examples_overlay.dcm",  # MR with an overlay plane
    "examples_rgb_color.dcm",  # US
    "examples_jpeg2k.dcm",  # US, JPEG 2000
    "examples_palette.dcm",  # US, palette colour
    "examples_ybr_color.dcm",  # US multi-frame, JPEG baseline
    "JPEG-lossy.dcm",  # NM, JPEG extended
    "JPEG2000.dcm",  # NM
    "liver_1frame.dcm",  # SEG
    "test-SR.dcm",  # Comprehensive SR
    "reportsi.dcm",  # Basic Text SR
]
MIN_LEAK = 4  # shorter strings ("OB", "204") occur in any encoding by chance


def dcmdump(path: Path) -> str:
    if shutil.which("dcmdump") is None:
        pytest.fail("dcmdump is missing: install dcmtk (make test does: apt-get install dcmtk)")
    result = subprocess.run(
        ["dcmdump", "-M", str(path)], capture_output=True, timeout=60, check=False
    )
    stderr = result.stderr.decode("latin-1")  # dumps hold the data set's own charset
    assert result.returncode == 0, stderr
    assert not re.search(r"^E: ", stderr, re.MULTILINE), stderr
    return result.stdout.decode("latin-1")


def identifying_strings(ds: Any) -> set[str]:
    name, patient_id = str(ds.get("PatientName", "") or ""), str(ds.get("PatientID", "") or "")
    found = {name, patient_id, *re.split(r"[\^ ]+", name)}
    return {s for s in found if len(s) >= MIN_LEAK}


@pytest.mark.parametrize("name", FILES)
def test_bundled_file_deidentifies_without_leaving_names_or_ids(name: str, tmp_path: Path) -> None:
    original = pydicom.dcmread(get_testdata_file(name))
    out = deidentify(original, config())
    path = tmp_path / "out.dcm"
    out.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    for text in identifying_strings(original):
        assert text.encode() not in data, f"{text!r} of {name} is still in the written bytes"
    for uid in (original.StudyInstanceUID, original.SOPInstanceUID):
        assert uid.encode() not in data
    dump = dcmdump(path)
    assert "(0012,0062) CS [YES]" in dump
    back = pydicom.dcmread(path)
    assert back.PatientIdentityRemoved == "YES"
    assert back.PatientID == str(back.PatientName) == _pseudonym(original)
    assert back.SOPClassUID == original.SOPClassUID
    assert back.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    if "PixelData" in original:
        assert back.PixelData == original.PixelData


def _pseudonym(ds: Any) -> str:
    """The patient pseudonym: of the Patient ID, else of the name (profile._identity)."""
    key = str(ds.get("PatientID", "") or "").strip() or f"name:{ds.PatientName}"
    return Pseudonymizer(SECRET).patient_id(key)


def test_rich_instance_round_trips_through_dcmtk_and_pydicom(tmp_path: Path) -> None:
    original = rich_series()[0]
    out = deidentify(
        original,
        config(
            Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES,
            Option.CLEAN_DESCRIPTORS,
        ),
    )
    path = tmp_path / "rich.dcm"
    out.save_as(path, enforce_file_format=True)
    dump = dcmdump(path)
    assert f"(0010,0020) LO [{out.PatientID}]" in dump
    assert "(0028,0303) CS [MODIFIED]" in dump
    assert "(0012,0064) SQ" in dump and "[113107]" in dump
    assert not re.search(r"^\((0009|6000|5000),", dump, re.MULTILINE)
    back = pydicom.dcmread(path)
    for elem in out:
        if elem.tag != 0x7FE00010:
            assert back[elem.tag].value == elem.value, elem.keyword
    assert back.PixelData == original.PixelData
