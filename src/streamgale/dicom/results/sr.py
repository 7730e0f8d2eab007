"""A :class:`StudyResult` as a DICOM Comprehensive 3D SR measurement report (TID 1500).

The report goes into the source study (same Study Instance UID (0020,000D),
patient and study attributes copied from the source), in its own series, and
references the images it is about. Its content tree (PS3.16 TID 1500):

- Language, then the Observation Context (TID 1001) with a Device observer
  (TID 1004): the model, its manufacturer and version;
- Procedure Reported (CID 100), from the source Modality;
- Image Library (TID 1600) of the images the content references (the
  findings' images and the SEG frames' sources; the first image of each
  series when there are none). Every source image is listed as evidence in
  the Current Requested Procedure Evidence Sequence (0040,A375) instead:
  a library entry per slice of a 300-slice series would cost ~1 s;
- Imaging Measurements with one Measurement Group (TID 1501) per finding:
  tracking identifier (TID 4108), Finding (DCM 121071) = the finding concept,
  Finding Category, Algorithm Identification (TID 4019), the qualitative
  evaluation "<finding> = Present/Absent", the probability and the finding's
  measurements as TID 300 NUM items, and the source images. When a
  Segmentation is given and it has a segment labelled like the finding, the
  group is a Volumetric ROI group (TID 1411) referencing that segment instead.

The codes used are listed in :mod:`streamgale.dicom.results._codes`.

Speed (a 300-slice study must get its SR within the 1 s study budget): the
per-image IMAGE items are built once by highdicom and re-pointed per image,
highdicom's SR constructor gets a skeleton of the tree instead of deep-copying
and re-parsing all of it, and elements the items share are encoded once
(:mod:`._items`); the bytes written are the same. The patient, study and
equipment values copied from the source are made conformant first
(:mod:`._header`).

UIDs are deterministic: the SR series is one per (study, model), so updates
stack up as instances of the same series (Instance Number = version); the SOP
Instance UID is derived from the result id and version. A version 2 result
lists version 1 in the Predecessor Documents Sequence (0040,A360).

>>> import datetime as dt
>>> from streamgale.dicom.synthetic import ct_series
>>> from streamgale.dicom.results.finding import Finding, StudyResult
>>> images = ct_series(slices=2, size=16, seed=4)
>>> result = StudyResult(
...     result_id="r-1", study_instance_uid=images[0].StudyInstanceUID,
...     series_instance_uids=(images[0].SeriesInstanceUID,), model_name="demo",
...     model_version="1", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
...     findings=(Finding("lesion", 0.1, False),),
... )
>>> sr = build_sr(result, images, demo=True)
>>> sr.Modality, sr.StudyInstanceUID == images[0].StudyInstanceUID, sr.SeriesDescription
('SR', True, 'StreamGale AI results (DEMO)')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from streamgale.dicom._deps import require_dicom
from streamgale.dicom.results import _codes
from streamgale.dicom.results._header import conformant_header
from streamgale.dicom.results._items import encode_shared, referencing
from streamgale.dicom.results._library import image_library
from streamgale.dicom.results._uids import device_uid, sr_uids, tracking_uid
from streamgale.dicom.results.finding import Finding, StudyResult
from streamgale.errors import DicomError

__all__ = ["COMPREHENSIVE_3D_SR_STORAGE", "DEFAULT_SR_SERIES_NUMBER", "build_sr", "sr_uids"]

COMPREHENSIVE_3D_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.34"
DEFAULT_SR_SERIES_NUMBER = 9001
"""High, so AI results sort after the acquired series in viewers."""


def build_sr(
    result: StudyResult,
    source_datasets: Sequence[Any],
    *,
    segmentation: Any | None = None,
    previous_versions: Sequence[Any] | None = None,
    other_evidence: Sequence[Any] = (),
    series_number: int = DEFAULT_SR_SERIES_NUMBER,
    manufacturer: str = "StreamGale",
    demo: bool = False,
    series_description: str | None = None,
    institution_name: str | None = None,
) -> Any:
    """Render ``result`` as a Comprehensive 3D SR (a ``highdicom.sr.Comprehensive3DSR``).

    ``source_datasets`` are the study's images (metadata suffices, pixel data
    is not read); every SOP Instance UID a finding names must be among them.
    ``segmentation`` links findings to its segments (TID 1411).
    ``previous_versions`` defaults to the SR that :func:`sr_uids` gives the
    superseded result, so a version 2 needs nothing more than the record.
    ``other_evidence`` (their SOP Class, SOP Instance, Series and Study
    Instance UIDs suffice) are listed as evidence too: the segmentations of
    earlier versions whose findings an update carries on.
    Raises :class:`DicomError` when the sources do not fit the result.
    """
    require_dicom("DICOM SR results")
    from highdicom.sr import Comprehensive3DSR

    sources = _checked_sources(result, source_datasets)
    report, library = _measurement_report(result, sources, segmentation, manufacturer)
    series_uid, sop_uid = sr_uids(
        result.study_instance_uid, result.model_name, result.result_id, result.version
    )
    if previous_versions is None and result.supersedes is not None:
        previous_versions = [_predecessor(result, result.supersedes)]
    related = [segmentation] if segmentation is not None else []
    # The report copies the patient and study modules from its first evidence.
    # highdicom would also list every evidence image, slowly (~0.3 ms each):
    # the full list is written below.
    evidence = [conformant_header(library[0])]
    extra: dict[str, Any] = {}
    if any(_codes.is_local(code) for code in _codes_used(result)):
        extra["coding_schemes"] = [_codes.local_scheme_item()]
    try:
        sr = Comprehensive3DSR(
            evidence=evidence,
            content=_skeleton(report[0]),
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=sop_uid,
            instance_number=result.version,
            manufacturer=manufacturer,
            is_complete=True,
            is_final=False,  # PRELIMINARY: a model's output awaits a reader
            institution_name=institution_name,
            previous_versions=previous_versions,
            series_description=series_description or _description(demo),
            manufacturer_model_name="StreamGale",
            software_versions=f"{result.model_name} {result.model_version}",
            content_date=result.created_at.date(),
            content_time=result.created_at.time().replace(tzinfo=None),
            **extra,
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise DicomError(f"could not build the SR for result {result.result_id}: {exc}") from exc
    _attach(sr, report[0])
    _stamp_time(sr, result.created_at)
    sr.CurrentRequestedProcedureEvidenceSequence = _evidence_sequence(
        [*sources, *related, *other_evidence]
    )
    encode_shared(sr)
    return sr


_CONTENT_SEQUENCE = 0x0040A730


def _skeleton(root: Any) -> Any:
    """The root container with its first content item only (the language).

    highdicom deep-copies the content it is given, parses the copy back and
    searches it for references: about 0.3 s for a report on 300 images, for a
    tree that is already built and whose references :func:`_images` checked.
    It gets the skeleton; :func:`_attach` puts the whole tree in afterwards.
    """
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    cls: Any = type(root)
    skeleton = cls.__new__(cls)
    Dataset.__init__(skeleton, dict(root.items()))
    first = DicomSequence([root.ContentSequence[0]])
    skeleton[_CONTENT_SEQUENCE] = DataElement(_CONTENT_SEQUENCE, "SQ", first)
    return skeleton


def _attach(sr: Any, root: Any) -> None:
    from highdicom.sr import ContentSequence

    sr[_CONTENT_SEQUENCE] = root[_CONTENT_SEQUENCE]
    # What highdicom's ``content`` property returns, as if it had parsed the tree.
    sr._content = ContentSequence([root], is_root=True)


def _by_uid(datasets: Sequence[Any]) -> dict[str, Any]:
    return {str(ds.SOPInstanceUID): ds for ds in datasets}


def _dedup(datasets: Sequence[Any]) -> list[Any]:
    return list(_by_uid(datasets).values())


def _evidence_sequence(datasets: Sequence[Any]) -> Any:
    """Current Requested Procedure Evidence Sequence (0040,A375): study > series > SOP."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    tree: dict[str, dict[str, list[Any]]] = {}
    for ds in _dedup(datasets):
        series = tree.setdefault(str(ds.StudyInstanceUID), {})
        series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    studies = []
    for study_uid, by_series in tree.items():
        series_items = []
        for series_uid, members in by_series.items():
            sops = []
            for ds in members:
                sop = Dataset()
                sop.ReferencedSOPClassUID = ds.SOPClassUID
                sop.ReferencedSOPInstanceUID = ds.SOPInstanceUID
                sops.append(sop)
            series_item = Dataset()
            series_item.ReferencedSOPSequence = DicomSequence(sops)
            series_item.SeriesInstanceUID = series_uid
            series_items.append(series_item)
        study = Dataset()
        study.ReferencedSeriesSequence = DicomSequence(series_items)
        study.StudyInstanceUID = study_uid
        studies.append(study)
    return DicomSequence(studies)


def _description(demo: bool) -> str:
    return "StreamGale AI results (DEMO)" if demo else "StreamGale AI results"


def _checked_sources(result: StudyResult, source_datasets: Sequence[Any]) -> list[Any]:
    sources = list(source_datasets)
    if not sources:
        raise DicomError(f"result {result.result_id}: no source datasets; pass the study's images")
    for ds in sources:
        if ds.StudyInstanceUID != result.study_instance_uid:
            raise DicomError(
                f"source {ds.SOPInstanceUID} is in study {ds.StudyInstanceUID}, but result "
                f"{result.result_id} is for study {result.study_instance_uid}; "
                "an SR can only go into the study it reports on"
            )
    if not result.findings:
        raise DicomError(
            f"result {result.result_id} has no findings; a TID 1500 report needs at least one "
            "measurement group (report absent findings with present=False)"
        )
    return sources


def _codes_used(result: StudyResult) -> list[Any]:
    out = []
    for finding in result.findings:
        out.append(_codes.finding_code(finding.label))
        out.extend(_codes.measurement_code(k, m.name) for k, m in finding.measurements.items())
    return out


def _observation_context(result: StudyResult, manufacturer: str) -> Any:
    from highdicom.sr import (
        DeviceObserverIdentifyingAttributes,
        ObservationContext,
        ObserverContext,
    )
    from pydicom.sr.codedict import codes

    device = DeviceObserverIdentifyingAttributes(
        uid=device_uid(result.model_name, result.model_version),
        name=result.model_name,
        manufacturer_name=manufacturer,
        model_name=f"{result.model_name} {result.model_version}",
    )
    return ObservationContext(
        observer_device_context=ObserverContext(
            observer_type=codes.cid270.Device, observer_identifying_attributes=device
        )
    )


def _measurement_report(
    result: StudyResult, sources: list[Any], segmentation: Any | None, manufacturer: str
) -> tuple[Any, list[Any]]:
    """The TID 1500 content tree, and the images it references (its Image Library)."""
    from highdicom.sr import AlgorithmIdentification, MeasurementReport

    by_uid = _by_uid(sources)
    algorithm = AlgorithmIdentification(
        name=result.model_name, version=result.model_version, manufacturer=manufacturer
    )
    segments = _linked_segments(result, segmentation)
    uids = [uid for f in result.findings for uid in f.source_sop_instance_uids]
    if segments:
        uids += _segmentation_sources(segmentation)
    library = _images(result, uids, by_uid) or _first_of_each_series(sources)
    groups = [
        _group(
            result,
            finding,
            by_uid=by_uid,
            algorithm=algorithm,
            segmentation=segmentation,
            segments=segments,
        )
        for finding in result.findings
    ]
    report = MeasurementReport(
        observation_context=_observation_context(result, manufacturer),
        procedure_reported=_codes.procedure_code(str(sources[0].get("Modality", ""))),
        imaging_measurements=groups,
    )
    content = report[0].ContentSequence
    # TID 1500 puts the Image Library just before the Imaging Measurements container.
    content.insert(len(content) - 1, image_library(library))
    return report, library


def _images(result: StudyResult, uids: Sequence[str], by_uid: Mapping[str, Any]) -> list[Any]:
    missing = [uid for uid in uids if uid not in by_uid]
    if missing:
        raise DicomError(
            f"result {result.result_id} references SOP Instance UID {missing[0]} (and "
            f"{len(missing) - 1} more), which is not among the {len(by_uid)} source datasets; "
            "pass every image the result and its segmentation refer to"
        )
    return [by_uid[uid] for uid in dict.fromkeys(uids)]


def _segmentation_sources(segmentation: Any) -> list[str]:
    """SOP Instance UIDs of the images a SEG has frames for, in frame order.

    From each frame's Derivation Image > Source Image Sequence, not from the
    Referenced Series Sequence, which lists every image of the series.
    """
    uids = [
        str(source.ReferencedSOPInstanceUID)
        for frame in segmentation.PerFrameFunctionalGroupsSequence
        for derivation in frame.get("DerivationImageSequence", [])
        for source in derivation.get("SourceImageSequence", [])
    ]
    return list(dict.fromkeys(uids))


def _first_of_each_series(sources: list[Any]) -> list[Any]:
    # With no image named by a finding, the library still says which series
    # (modality, frame of reference, matrix) the report is about.
    firsts: dict[str, Any] = {}
    for ds in sources:
        firsts.setdefault(str(ds.SeriesInstanceUID), ds)
    return list(firsts.values())


def _linked_segments(result: StudyResult, segmentation: Any | None) -> dict[str, int]:
    """Segment Number per label of the present findings that the SEG segments."""
    if segmentation is None:
        return {}
    numbers = {
        str(item.SegmentLabel).strip().lower(): int(item.SegmentNumber)
        for item in segmentation.SegmentSequence
    }
    present = {f.label.strip().lower() for f in result.findings if f.present}
    return {label: n for label, n in numbers.items() if label in present}


def _measurements(finding: Finding) -> list[Any]:
    from highdicom.sr import Measurement
    from pydicom.sr.codedict import codes

    items = [
        Measurement(
            name=codes.DCM.Probability,
            value=finding.probability,
            unit=_codes.unit_code("1"),
        )
    ]
    for key, measurement in finding.measurements.items():
        items.append(
            Measurement(
                name=_codes.measurement_code(key, measurement.name),
                value=measurement.value,
                unit=_codes.unit_code(measurement.unit),
            )
        )
    return items


def _group(
    result: StudyResult,
    finding: Finding,
    *,
    by_uid: Mapping[str, Any],
    algorithm: Any,
    segmentation: Any | None,
    segments: Mapping[str, int],
) -> Any:
    from highdicom.sr import (
        MeasurementsAndQualitativeEvaluations,
        QualitativeEvaluation,
        ReferencedSegment,
        SourceImageForMeasurementGroup,
        SourceImageForSegmentation,
        TrackingIdentifier,
        VolumetricROIMeasurementsAndQualitativeEvaluations,
    )
    from pydicom.sr.codedict import codes

    concept = _codes.finding_code(finding.label)
    common: dict[str, Any] = {
        "tracking_identifier": TrackingIdentifier(
            uid=tracking_uid(result.study_instance_uid, result.model_name, finding.label),
            identifier=finding.label,
        ),
        "finding_type": concept,
        "finding_category": codes.SCT.MorphologicallyAbnormalStructure,
        "algorithm_id": algorithm,
        "qualitative_evaluations": [
            QualitativeEvaluation(
                name=concept, value=codes.SCT.Present if finding.present else codes.SCT.Absent
            )
        ],
        "measurements": _measurements(finding),
    }
    number = segments.get(finding.label.strip().lower())
    if segmentation is not None and number is not None and finding.present:
        # Built by hand: ReferencedSegment.from_segmentation (highdicom 0.28)
        # fails on a single-segment SEG, whose Segment Identification is shared.
        segment = ReferencedSegment(
            sop_class_uid=segmentation.SOPClassUID,
            sop_instance_uid=segmentation.SOPInstanceUID,
            segment_number=number,
            source_images=_image_items(
                SourceImageForSegmentation, _segmentation_sources(segmentation), by_uid
            ),
        )
        return VolumetricROIMeasurementsAndQualitativeEvaluations(
            referenced_segment=segment, **common
        )
    uids = list(dict.fromkeys(finding.source_sop_instance_uids))
    sources = _image_items(SourceImageForMeasurementGroup, uids, by_uid)
    return MeasurementsAndQualitativeEvaluations(source_images=sources or None, **common)


def _image_items(kind: Any, uids: Sequence[str], by_uid: Mapping[str, Any]) -> list[Any]:
    """IMAGE items of highdicom class ``kind`` referencing ``uids``.

    The first is built by highdicom (its constructor, not from_source_image,
    which looks the SOP class up in the IOD tables to learn what we know);
    the rest are copies re-pointed at their image (:mod:`._items`).
    """
    items: list[Any] = []
    for uid in uids:
        sop_class = by_uid[uid].SOPClassUID
        if items:
            items.append(referencing(items[0], sop_class, uid))
        else:
            items.append(kind(referenced_sop_class_uid=sop_class, referenced_sop_instance_uid=uid))
    return items


def _predecessor(result: StudyResult, supersedes: str) -> Any:
    from pydicom.dataset import Dataset

    series_uid, sop_uid = sr_uids(
        result.study_instance_uid, result.model_name, supersedes, result.version - 1
    )
    ds = Dataset()
    ds.SOPClassUID = COMPREHENSIVE_3D_SR_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = result.study_instance_uid
    ds.SeriesInstanceUID = series_uid
    return ds


def _stamp_time(sr: Any, created_at: dt.datetime) -> None:
    # highdicom stamps Instance Creation Date/Time with the wall clock; the
    # record's time keeps the object reproducible from the record.
    from pydicom.valuerep import DA, TM

    sr.InstanceCreationDate = DA(created_at.date())
    sr.InstanceCreationTime = TM(created_at.time().replace(tzinfo=None))
    offset = created_at.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    sr.TimezoneOffsetFromUTC = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
