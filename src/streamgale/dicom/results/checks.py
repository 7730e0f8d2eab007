"""Is a result object valid DICOM that belongs in its source study? Say what is wrong.

Viewers reject result objects for small reasons: a missing type 2 attribute,
a reference to an image they do not have, a series UID reused from the
source. :func:`check_result_object` checks what StreamGale promises about SR
and SEG objects; :func:`validate_part10` round-trips an object through a
Part 10 file (PS3.10: preamble, "DICM", File Meta Information) and runs the
independent validators installed on the machine:

- dcmtk ``dcmdump`` (must parse it with no warning or error),
- dcmtk ``dsrdump`` for SR documents (checks the SR content tree),
- dicom3tools ``dciodvfy`` (IOD/module/attribute validation against PS3.3;
  Debian package ``dicom3tools``). Its warnings about StreamGale's local
  coding scheme ``99SGALE`` are expected and not problems.

A validator that is not installed is itself reported as a problem, with the
package to install, so a check never passes by not running.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from streamgale.dicom._deps import require_dicom
from streamgale.errors import DicomError

__all__ = [
    "check_result_object",
    "dciodvfy_problems",
    "dcmdump_problems",
    "dsrdump_problems",
    "read_part10_bytes",
    "to_part10_bytes",
    "validate_part10",
]

# Attributes every result object must carry, by module (PS3.3 C.7.1.1 Patient,
# C.7.2.1 General Study, C.7.3.1 General Series, C.7.5.1 General Equipment,
# C.12.1 SOP Common). Type 2 attributes may be empty but must be present.
_COMMON = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "Modality",
    "SeriesInstanceUID",
    "SeriesNumber",
    "Manufacturer",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
)
# SR Document General (C.17.2) and Content (C.17.3); Segmentation Image
# (C.8.20.2), Multi-frame Functional Groups (C.7.6.16), Frame of Reference.
_BY_MODALITY = {
    "SR": (
        "ContentDate",
        "ContentTime",
        "CompletionFlag",
        "VerificationFlag",
        "ValueType",
        "ConceptNameCodeSequence",
        "ContentSequence",
        "ContinuityOfContent",
    ),
    "SEG": (
        "FrameOfReferenceUID",
        "SegmentationType",
        "SegmentSequence",
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "NumberOfFrames",
        "ContentLabel",
        "ReferencedSeriesSequence",
        "PixelData",
    ),
}
_PATIENT = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")


def check_result_object(
    ds: Any, source_datasets: Sequence[Any], *, related: Sequence[Any] = ()
) -> list[str]:
    """Problems with result object ``ds`` for its sources; empty when it is fine.

    Checks: same Study Instance UID as the sources, a Series and SOP Instance
    UID of its own, the patient copied from the source, the required module
    attributes, File Meta consistent with the dataset, and every Referenced
    SOP Instance UID (0008,1155) naming a source or a ``related`` object (for
    an SR, its SEG) with the right SOP Class. References inside the
    Predecessor Documents Sequence (0040,A360) are to earlier results and are
    not checked against the sources.
    """
    require_dicom("result checks")
    sources = list(source_datasets)
    if not sources:
        return ["no source datasets to check against"]
    problems = _identity_problems(ds, sources)
    problems += _missing_attributes(ds)
    problems += _meta_problems(ds)
    problems += _reference_problems(ds, [*sources, *related])
    if ds.get("Modality") == "SEG":
        problems += _seg_problems(ds, sources)
    return problems


def _identity_problems(ds: Any, sources: list[Any]) -> list[str]:
    problems = []
    first = sources[0]
    if ds.get("StudyInstanceUID") != first.StudyInstanceUID:
        problems.append(
            f"StudyInstanceUID {ds.get('StudyInstanceUID')} is not the source study "
            f"{first.StudyInstanceUID}"
        )
    source_series = {str(s.SeriesInstanceUID) for s in sources}
    if str(ds.get("SeriesInstanceUID")) in source_series:
        problems.append(f"SeriesInstanceUID {ds.SeriesInstanceUID} reuses a source series")
    if str(ds.get("SOPInstanceUID")) in {str(s.SOPInstanceUID) for s in sources}:
        problems.append(f"SOPInstanceUID {ds.SOPInstanceUID} reuses a source instance")
    for keyword in _PATIENT:
        if keyword in ds and str(ds.get(keyword)) != str(first.get(keyword)):
            problems.append(
                f"{keyword} {ds.get(keyword)!r} differs from the source {first.get(keyword)!r}"
            )
    return problems


def _missing_attributes(ds: Any) -> list[str]:
    wanted = _COMMON + _BY_MODALITY.get(str(ds.get("Modality", "")), ())
    return [f"required attribute {keyword} is missing" for keyword in wanted if keyword not in ds]


def _meta_problems(ds: Any) -> list[str]:
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        return ["File Meta Information (group 0002) with a TransferSyntaxUID is missing"]
    problems = []
    if meta.get("MediaStorageSOPInstanceUID") != ds.get("SOPInstanceUID"):
        problems.append("MediaStorageSOPInstanceUID (0002,0003) differs from SOPInstanceUID")
    if meta.get("MediaStorageSOPClassUID") != ds.get("SOPClassUID"):
        problems.append("MediaStorageSOPClassUID (0002,0002) differs from SOPClassUID")
    return problems


def _references(ds: Any) -> Iterator[Any]:
    """Every item with a ReferencedSOPInstanceUID, outside Predecessor Documents."""
    for element in ds:
        if element.VR != "SQ" or element.keyword == "PredecessorDocumentsSequence":
            continue
        for item in element.value:
            if "ReferencedSOPInstanceUID" in item:
                yield item
            yield from _references(item)


def _reference_problems(ds: Any, known: list[Any]) -> list[str]:
    classes = {str(k.SOPInstanceUID): str(k.SOPClassUID) for k in known}
    problems = []
    for item in _references(ds):
        uid = str(item.ReferencedSOPInstanceUID)
        if uid not in classes:
            problems.append(f"references SOP Instance {uid}, which is not a source instance")
        elif "ReferencedSOPClassUID" in item and str(item.ReferencedSOPClassUID) != classes[uid]:
            problems.append(
                f"references {uid} as SOP Class {item.ReferencedSOPClassUID}, "
                f"but it is {classes[uid]}"
            )
    return problems


def _seg_problems(ds: Any, sources: list[Any]) -> list[str]:
    problems = []
    frames = ds.get("PerFrameFunctionalGroupsSequence", [])
    if int(ds.get("NumberOfFrames", -1)) != len(frames):
        problems.append(
            f"NumberOfFrames {ds.get('NumberOfFrames')} but {len(frames)} per-frame items"
        )
    for number, item in enumerate(frames, start=1):
        derivation = item.get("DerivationImageSequence", [])
        if not any(d.get("SourceImageSequence") for d in derivation):
            problems.append(f"frame {number} has no Derivation Image > Source Image reference")
    if ds.get("FrameOfReferenceUID") != sources[0].get("FrameOfReferenceUID"):
        problems.append("FrameOfReferenceUID differs from the source images'")
    return problems


def to_part10_bytes(ds: Any) -> bytes:
    """``ds`` as a Part 10 file: 128-byte preamble, "DICM", File Meta, data set."""
    require_dicom("result checks")
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def read_part10_bytes(data: bytes) -> Any:
    """Read a Part 10 file from memory; raises :class:`DicomError` if it is not one."""
    require_dicom("result checks")
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        return dcmread(io.BytesIO(data))
    except InvalidDicomError as exc:
        raise DicomError(f"not a DICOM Part 10 file: {exc}") from exc


def _run_tool(tool: str, package: str, args: Sequence[str], data: bytes) -> tuple[int, str]:
    """Run ``tool`` on ``data`` in a temporary file; rc -1 when it is not installed."""
    exe = shutil.which(tool)
    if exe is None:
        return -1, f"{tool} is not installed; install it with: apt-get install {package}"
    with tempfile.TemporaryDirectory(prefix="sg-check-") as tmp:
        path = Path(tmp) / "object.dcm"
        path.write_bytes(data)
        done = subprocess.run(
            [exe, *args, str(path)],
            stdout=subprocess.DEVNULL,  # the dump itself; problems go to stderr
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    return done.returncode, done.stderr


def dcmdump_problems(data: bytes) -> list[str]:
    """What dcmtk's ``dcmdump`` warns or errors about when parsing ``data``."""
    return _dcmtk_problems("dcmdump", data)


def _dcmtk_problems(tool: str, data: bytes) -> list[str]:
    rc, stderr = _run_tool(tool, "dcmtk", ["--log-level", "warn"], data)
    lines = [f"{tool}: {line}" for line in stderr.splitlines() if line.strip()]
    if rc != 0 and not lines:
        lines = [f"{tool} exited with status {rc}"]
    return lines


def dsrdump_problems(data: bytes) -> list[str]:
    """What dcmtk's ``dsrdump`` reports about an SR document (content tree checks)."""
    return _dcmtk_problems("dsrdump", data)


def dciodvfy_problems(data: bytes, *, include_warnings: bool = False) -> list[str]:
    """Errors (and, if asked, warnings) from dicom3tools' ``dciodvfy``.

    Warnings about the local coding scheme ``99SGALE`` are never reported.
    """
    rc, stderr = _run_tool("dciodvfy", "dicom3tools", [], data)
    if rc == -1:
        return [stderr]
    wanted = ("Error", "Warning") if include_warnings else ("Error",)
    return [
        f"dciodvfy: {line}"
        for line in stderr.splitlines()
        if line.startswith(wanted) and "99SGALE" not in line
    ]


def validate_part10(
    ds: Any, source_datasets: Sequence[Any], *, related: Sequence[Any] = ()
) -> list[str]:
    """Write ``ds`` as a Part 10 file, read it back, and check it every way we can.

    Returns the problems of :func:`check_result_object` on the re-read object,
    of ``dcmdump``, of ``dsrdump`` (SR only) and of ``dciodvfy``; empty when
    the object is fine.
    """
    data = to_part10_bytes(ds)
    if data[128:132] != b"DICM":
        return ["the file has no 128-byte preamble followed by 'DICM'"]
    problems = check_result_object(read_part10_bytes(data), source_datasets, related=related)
    problems += dcmdump_problems(data)
    if ds.get("Modality") == "SR":
        problems += dsrdump_problems(data)
    problems += dciodvfy_problems(data)
    return problems
