"""Synthetic CT-like phantoms as valid DICOM: test data, demo data, training data.

No real patient data may be shipped or downloaded, so everything StreamGale
tests, benchmarks and demonstrates with is generated here: a chest-like
phantom (body, two lungs, spine) in Hounsfield units, with optional round
"lesions" in the lungs. Instances are CT Image Storage (PS3.3 A.3) with the
attributes a PACS expects, and deterministic UIDs for a given seed.

>>> series = ct_series(slices=3, size=64, lesion=True, seed=1)
>>> [int(ds.InstanceNumber) for ds in series]
[1, 2, 3]
>>> series[0].Modality, series[0].Rows, len({ds.SeriesInstanceUID for ds in series})
('CT', 64, 1)
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.dicom._deps import require_dicom

__all__ = [
    "CT_IMAGE_STORAGE",
    "PhantomSpec",
    "ct_series",
    "ct_study",
    "phantom_slice",
    "write_instances",
]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_HU_OFFSET = 1024  # stored value = HU + 1024, RescaleIntercept = -1024


@dataclass(frozen=True)
class PhantomSpec:
    """Where the lesions of a phantom are, in pixel coordinates of a slice."""

    lesions: tuple[tuple[float, float, float], ...]
    """(row, column, radius) of each lesion."""


def phantom_slice(
    size: int, rng: np.random.Generator, *, lesion: bool, noise_hu: float = 12.0
) -> tuple[npt.NDArray[np.int16], PhantomSpec]:
    """One axial slice in Hounsfield units, and where its lesions are."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    hu = np.full((size, size), -1000.0, dtype=np.float32)  # air
    body = ((xx - 0.5) / 0.42) ** 2 + ((yy - 0.5) / 0.32) ** 2 <= 1.0
    hu[body] = 40.0  # soft tissue
    lungs = []
    for cx in (0.33, 0.67):
        lung = ((xx - cx) / 0.13) ** 2 + ((yy - 0.47) / 0.2) ** 2 <= 1.0
        hu[lung] = -850.0
        lungs.append((cx, lung))
    spine = ((xx - 0.5) / 0.05) ** 2 + ((yy - 0.72) / 0.05) ** 2 <= 1.0
    hu[spine] = 700.0
    lesions: list[tuple[float, float, float]] = []
    if lesion:
        for _ in range(int(rng.integers(1, 3))):
            cx, _mask = lungs[int(rng.integers(0, 2))]
            row = (0.47 + rng.uniform(-0.12, 0.12)) * size
            col = (cx + rng.uniform(-0.07, 0.07)) * size
            radius = rng.uniform(0.025, 0.05) * size
            disc = (yy * size - row) ** 2 + (xx * size - col) ** 2 <= radius**2
            hu[disc] = rng.uniform(20.0, 80.0)
            lesions.append((float(row), float(col), float(radius)))
    hu += rng.normal(0.0, noise_hu, hu.shape).astype(np.float32)
    return np.clip(hu, -1024, 3071).astype(np.int16), PhantomSpec(tuple(lesions))


def ct_series(
    *,
    slices: int = 10,
    size: int = 512,
    lesion: bool = False,
    seed: int = 0,
    patient_id: str = "SG-0001",
    patient_name: str = "Phantom^Alpha",
    study_uid: str | None = None,
    series_number: int = 1,
    body_part: str = "CHEST",
    series_description: str = "Synthetic chest CT",
    slice_thickness: float = 2.5,
) -> list[Any]:
    """A series of CT Image Storage instances (pydicom Datasets), ordered by position.

    Lesions, when asked for, appear in the middle third of the slices.
    """
    require_dicom("synthetic DICOM")
    rng = np.random.default_rng(seed)
    study_uid = study_uid or _uid(f"study-{patient_id}-{seed}")
    series_uid = _uid(f"series-{study_uid}-{series_number}-{seed}")
    frame_uid = _uid(f"frame-{study_uid}")
    datasets = []
    for index in range(slices):
        with_lesion = lesion and slices // 3 <= index < max(2 * slices // 3, slices // 3 + 1)
        hu, spec = phantom_slice(size, rng, lesion=with_lesion)
        ds = _instance(
            hu,
            sop_uid=_uid(f"sop-{series_uid}-{index}"),
            study_uid=study_uid,
            series_uid=series_uid,
            frame_uid=frame_uid,
            patient_id=patient_id,
            patient_name=patient_name,
        )
        ds.SeriesNumber = series_number
        ds.InstanceNumber = index + 1
        ds.BodyPartExamined = body_part
        ds.SeriesDescription = series_description
        ds.SliceThickness = slice_thickness
        z = -index * slice_thickness
        ds.ImagePositionPatient = [-0.5 * size * 0.7, -0.5 * size * 0.7, z]
        ds.SliceLocation = z
        ds.ImageComments = "lesion" if spec.lesions else "no lesion"
        datasets.append(ds)
    return datasets


def ct_study(
    *,
    series: int = 1,
    slices: int = 10,
    size: int = 512,
    lesion: bool = False,
    seed: int = 0,
    patient_id: str = "SG-0001",
    patient_name: str = "Phantom^Alpha",
) -> list[Any]:
    """A study of ``series`` CT series sharing one Study Instance UID."""
    study_uid = _uid(f"study-{patient_id}-{seed}")
    out: list[Any] = []
    for number in range(1, series + 1):
        out.extend(
            ct_series(
                slices=slices,
                size=size,
                lesion=lesion,
                seed=seed * 1000 + number,
                patient_id=patient_id,
                patient_name=patient_name,
                study_uid=study_uid,
                series_number=number,
            )
        )
    return out


def write_instances(datasets: Sequence[Any], directory: Path) -> list[Path]:
    """Write each dataset as a DICOM Part 10 file named by its position, not its values."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate(datasets):
        path = directory / f"{n:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _uid(seed_text: str) -> str:
    from pydicom.uid import generate_uid

    # pydicom's root for generated UIDs, made deterministic by the seed text.
    return str(generate_uid(entropy_srcs=[seed_text]))


def _instance(
    hu: npt.NDArray[np.int16],
    *,
    sop_uid: str,
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    patient_id: str,
    patient_name: str,
) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(CT_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.PatientAge = "056Y"
    now = dt.datetime(2026, 1, 1, 8, 30)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = f"ACC{zlib.crc32(study_uid.encode()) % 10**8:08d}"
    ds.StudyID = "1"
    ds.ReferringPhysicianName = "Referrer^Synthetic"
    ds.InstitutionName = "StreamGale Synthetic Hospital"
    ds.Manufacturer = "StreamGale"
    ds.ManufacturerModelName = "Synthetic Phantom"
    ds.StationName = "SG-SIM-01"
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -_HU_OFFSET
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = -600
    ds.WindowWidth = 1500
    ds.PixelData = (hu.astype(np.int32) + _HU_OFFSET).astype(np.uint16).tobytes()
    return ds
