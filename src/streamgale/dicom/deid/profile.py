"""De-identify one instance: PS3.15 Annex E Basic Profile with the selected options.

:func:`deidentify` builds a *new* dataset (the input is never changed) by
walking every element, nested sequences included, and applying:

1. Rules that are not single attributes (Table E.1-1): group lengths, private
   attributes, curves (50xx,xxxx) and overlay groups (60xx,xxxx) are removed.
2. Patient ID (0010,0020) and Patient's Name (0010,0010) (action Z, which
   allows a dummy) become the patient pseudonym ``prefix + base32(HMAC)``;
   both get the same one, so one patient is one pseudonym across studies.
   The patient is keyed by Patient ID, or by Patient's Name when the ID is
   empty, or by the study when both are: IDs must be unique across the
   sources that share a secret. Nested Patient IDs (inside sequences) get
   the pseudonym of their own value, nested names are emptied.
3. The action of :data:`~streamgale.dicom.deid.actions.TABLE_E1_1` for the
   selected options: D, Z, X, K, C or U (combined actions resolved there).
4. Attributes the table does not list are kept (the profile is a blacklist),
   except, conservatively: text, names and dates in the Patient, Clinical
   Trial and Visit groups (0010, 0012, 0038) are removed; narrative text (ST,
   LT, UT, UC) is cleaned like a descriptor; person names (PN) get a dummy;
   dates (DA, DT) are shifted (Modified Dates), kept (Full Dates) or get the
   dummy date with the time of day kept; instance-like UIDs (keyword ending
   in "InstanceUID" or "FrameOfReferenceUID") are replaced like U.

UIDs map to ``2.25.<HMAC>`` everywhere (file meta, references inside
sequences), so references between de-identified instances stay consistent;
SOP Class UIDs and the Transfer Syntax are unchanged. Pixel Data bytes are
unchanged unless the Clean Pixel Data Option is selected. The result carries
Patient Identity Removed (0012,0062) YES, De-identification Method
(0012,0063) and its Code Sequence (0012,0064) listing the profile and every
option (CID 7050), and Longitudinal Temporal Information Modified
(0028,0303): MODIFIED, UNMODIFIED (Full Dates) or REMOVED.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamgale.dicom._deps import require_dicom
from streamgale.dicom.deid.actions import Action, action_plan
from streamgale.dicom.deid.dates import (
    DUMMY_DA,
    DUMMY_DT,
    DUMMY_TM,
    replace_date_keep_time,
    shift_value,
)
from streamgale.dicom.deid.options import DeidConfig, Option
from streamgale.dicom.deid.pixels import blank_regions
from streamgale.dicom.deid.pseudonyms import Pseudonymizer
from streamgale.dicom.deid.text import IDENTIFYING_KEYWORDS, Scrubber
from streamgale.errors import DeidentificationError

__all__ = ["deidentify"]

_PATIENT_ID = 0x00100020
_PATIENT_NAME = 0x00100010
_TIMEZONE_OFFSET = 0x00080201  # SH, but an offset ("+0100"): shifting dates leaves it as is
_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC"})
# Unlisted text and dates in the Patient, Clinical Trial and Visit groups are removed:
# newer editions of Table E.1-1 list most of them X (alternative-calendar birth dates,
# strain and breed registrations, issuers of trial IDs), and identity is what these
# groups hold. Unlisted narrative text elsewhere is cleaned like a descriptor.
_IDENTITY_GROUPS = frozenset({0x0010, 0x0012, 0x0038})
_IDENTITY_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN", "DA", "DT", "TM", "AS"})
_NARRATIVE_VRS = frozenset({"ST", "LT", "UT", "UC"})
_DUMMY_TEXT = "ANONYMIZED"
# Values of these VRs cannot be read as text to clean (UN is undecoded bytes): a cleaned
# element of one is removed, never kept as it was.
_UNCLEANABLE_VRS = frozenset({"UN", "OB", "OW", "OD", "OF", "OL", "OV"})
_CODE_PARTS = frozenset(
    {
        0x00080100,  # Code Value
        0x00080102,  # Coding Scheme Designator
        0x00080103,  # Coding Scheme Version
        0x00080105,  # Mapping Resource
        0x0008010F,  # Context Identifier
        0x00080119,  # Long Code Value
        0x00080120,  # URN Code Value
    }
)
_DUMMIES: dict[str, Any] = {
    "AE": _DUMMY_TEXT, "AS": "000D", "CS": _DUMMY_TEXT, "DA": DUMMY_DA, "DT": DUMMY_DT,
    "TM": DUMMY_TM, "DS": "0", "IS": "0", "PN": _DUMMY_TEXT, "UR": "",
    "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "UL": 0, "US": 0, "SV": 0, "UV": 0,
}  # fmt: skip
_CID_7050_ORDER = tuple(Option)


def deidentify(ds: Any, config: DeidConfig) -> Any:
    """A de-identified copy of ``ds`` (a pydicom Dataset), following ``config``.

    Raises :class:`~streamgale.errors.DeidentificationError` when the instance
    cannot be de-identified as asked: Burned In Annotation YES without pixel
    cleaning (unless ``allow_burned_in``), pixel cleaning of compressed or
    unsupported pixel data, or an element that cannot be read.
    """
    require_dicom("DICOM de-identification")
    _check_pixels(ds, config)
    context = _Context.build(ds, config)
    out = _walk(ds, context, cleaning=False)
    _set_method(out, config)
    if Option.CLEAN_PIXEL_DATA in config.options and "PixelData" in ds:
        out.PixelData = blank_regions(
            ds, config.clean_pixel_regions or (), little_endian=_native_little_endian(ds)
        )
        if "BurnedInAnnotation" in out:
            out.BurnedInAnnotation = "NO"
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        out.file_meta = _file_meta(meta, out, context)
    implicit, little = ds.original_encoding
    out.set_original_encoding(implicit, little, ds.original_character_set)
    return out


@dataclass(frozen=True)
class _Context:
    """Everything one instance's walk needs, computed once."""

    source: Any
    config: DeidConfig
    plan: Mapping[int, tuple[str, Action]]
    pseudonyms: Pseudonymizer
    patient_pseudonym: str
    shift_days: int

    @classmethod
    def build(cls, ds: Any, config: DeidConfig) -> _Context:
        pseudonyms = Pseudonymizer(config.secret, prefix=config.pseudonym_prefix)
        identity = _identity(ds)
        return cls(
            source=ds,
            config=config,
            plan=action_plan(config.options),
            pseudonyms=pseudonyms,
            patient_pseudonym=pseudonyms.patient_id(identity),
            shift_days=pseudonyms.date_shift_days(identity, max_days=config.max_date_shift_days),
        )

    @functools.cached_property
    def scrubber(self) -> Scrubber:
        keywords = IDENTIFYING_KEYWORDS
        if Option.RETAIN_INSTITUTION_IDENTITY not in self.config.options:
            keywords = keywords | {"InstitutionName", "InstitutionAddress"}
        return Scrubber(_values_of(self.source, keywords))


def _identity(ds: Any) -> str:
    """The key of the patient: Patient ID, else Patient's Name, else the study."""
    patient_id = str(ds.get("PatientID", "") or "").strip()
    if patient_id:
        return patient_id
    name = str(ds.get("PatientName", "") or "").strip()
    if name:
        return f"name:{name}"
    return f"study:{ds.get('StudyInstanceUID', '')}"


def _values_of(ds: Any, keywords: frozenset[str]) -> list[str]:
    found: list[str] = []
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                found.extend(_values_of(item, keywords))
        elif elem.keyword in keywords and elem.value not in (None, ""):
            values = elem.value if elem.VM > 1 else [elem.value]
            found.extend(str(v) for v in values)
    return found


def _walk(src: Any, ctx: _Context, *, cleaning: bool, top: bool = True) -> Any:
    from pydicom.dataset import Dataset

    out = Dataset()
    for elem in src:
        try:
            new = _element(elem, ctx, cleaning=cleaning, top=top)
        except DeidentificationError:
            raise
        except Exception as exc:
            raise DeidentificationError(
                f"could not de-identify {elem.tag} {elem.keyword or '(unknown)'}: {exc}; "
                "the instance is probably malformed (quarantine it)"
            ) from exc
        if new is not None:
            out.add(new)
    return out


def _element(elem: Any, ctx: _Context, *, cleaning: bool, top: bool) -> Any:
    tag = int(elem.tag)  # plain int: pydicom's Tag comparisons are slow on this hot path
    group = tag >> 16
    if tag & 0xFFFF == 0 or group & 1 or (group & 0xFF00) in (0x5000, 0x6000):
        return None
    if tag == _PATIENT_ID and (top or elem.value):
        value = ctx.patient_pseudonym if top else ctx.pseudonyms.patient_id(str(elem.value))
        return _new(elem, value)
    if tag == _PATIENT_NAME:
        return _new(elem, ctx.patient_pseudonym if top else "")
    planned = ctx.plan.get(tag)
    if planned is not None:
        return _apply(planned[1], elem, ctx, cleaning)
    return _unlisted(elem, ctx, cleaning)


def _apply(action: Action, elem: Any, ctx: _Context, cleaning: bool) -> Any:
    if action is Action.X:
        return None
    if action is Action.Z:
        return _empty(elem)
    if action is Action.D:
        return _dummy(elem, ctx)
    if action is Action.U:
        return _replace_uids(elem, ctx) if elem.VR != "SQ" else _sequence(elem, ctx, cleaning)
    if action is Action.C:
        return _clean(elem, ctx)
    return _keep(elem, ctx, cleaning)  # K


def _unlisted(elem: Any, ctx: _Context, cleaning: bool) -> Any:
    vr = elem.VR
    if int(elem.tag) >> 16 in _IDENTITY_GROUPS and vr in _IDENTITY_VRS:
        return None
    if vr in _NARRATIVE_VRS:
        return _scrubbed(elem, ctx)
    if vr == "PN":
        return _new(elem, _DUMMY_TEXT) if elem.value else _empty(elem)
    if vr in ("DA", "DT"):
        return _date(elem, ctx)
    keyword = elem.keyword
    if (
        vr == "UI"
        and Option.RETAIN_UIDS not in ctx.config.options
        and keyword.endswith(("InstanceUID", "FrameOfReferenceUID"))
    ):
        return _replace_uids(elem, ctx)
    return _keep(elem, ctx, cleaning)


def _keep(elem: Any, ctx: _Context, cleaning: bool) -> Any:
    if elem.VR == "SQ":
        return _sequence(elem, ctx, cleaning)
    if cleaning and elem.VR in _UNCLEANABLE_VRS:
        return None
    if cleaning and elem.VR in _TEXT_VRS:
        return _scrubbed(elem, ctx)
    return _copy(elem)


def _clean(elem: Any, ctx: _Context) -> Any:
    """The C action: descriptors scrubbed, dates shifted, names replaced, items cleaned."""
    vr = elem.VR
    if vr == "SQ":
        return _sequence(elem, ctx, True)
    if vr in ("DA", "DT"):
        return _date(elem, ctx)
    if vr == "PN":
        return _new(elem, _DUMMY_TEXT) if elem.value else _empty(elem)
    if vr in _TEXT_VRS and int(elem.tag) != _TIMEZONE_OFFSET:
        return _scrubbed(elem, ctx)
    if vr in _UNCLEANABLE_VRS:
        return None
    return _copy(elem)  # TM, the time zone (C under Modified Dates), codes, numbers


def _date(elem: Any, ctx: _Context) -> Any:
    """Dates outside the table's D/Z/X: shifted, kept, or dummy date with the time kept."""
    config = ctx.config
    if config.keeps_full_dates:
        return _copy(elem)
    if config.shifts_dates:
        return _map_values(elem, lambda v: shift_value(elem.VR, v, ctx.shift_days))
    return _map_values(elem, lambda v: replace_date_keep_time(elem.VR, v))


def _dummy(elem: Any, ctx: _Context) -> Any:
    vr = elem.VR
    if vr == "SQ":
        if elem.keyword.endswith("CodeSequence"):
            return _new(elem, [_dummy_code()])
        return _sequence(elem, ctx, True)
    if vr == "UI":
        return _replace_uids(elem, ctx)
    if vr in _DUMMIES:
        return _new(elem, _DUMMIES[vr])
    if vr in _TEXT_VRS:
        return _new(elem, _DUMMY_TEXT)
    return _new(elem, b"\x00\x00")  # OB, OW, UN...: two zero bytes keep the length even


def _dummy_code() -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue = _DUMMY_TEXT
    item.CodingSchemeDesignator = "99STREAMGALE"
    item.CodeMeaning = "De-identified"
    return item


def _empty(elem: Any) -> Any:
    from pydicom.dataelem import empty_value_for_VR

    return _new(elem, empty_value_for_VR(elem.VR))


def _replace_uids(elem: Any, ctx: _Context) -> Any:
    if elem.VR != "UI":
        return _copy(elem)
    return _map_values(elem, lambda v: ctx.pseudonyms.uid(v) if v.strip() else v)


def _scrubbed(elem: Any, ctx: _Context) -> Any:
    """Free text cleaned; the parts of a code (value, scheme) kept, since they are no
    free text and a mangled code means something else; text that is not text (bytes
    in an unknown character set) removed, since it cannot be cleaned."""
    if int(elem.tag) in _CODE_PARTS:
        return _copy(elem)
    values = elem.value if elem.VM > 1 else [elem.value]
    if not all(isinstance(v, str) or v is None for v in values):
        return None
    return _map_values(elem, ctx.scrubber.clean)


def _sequence(elem: Any, ctx: _Context, cleaning: bool) -> Any:
    from pydicom.sequence import Sequence

    items = [_walk(item, ctx, cleaning=cleaning, top=False) for item in elem.value]
    return _new(elem, Sequence(items))


def _map_values(elem: Any, function: Any) -> Any:
    value = elem.value
    if value is None or value == "":
        return _new(elem, value)
    if elem.VM > 1:
        return _new(elem, [function(str(v)) for v in value])
    return _new(elem, function(str(value)))


def _copy(elem: Any) -> Any:
    """An independent copy of a non-sequence element (values are immutable or copied)."""
    from pydicom import config
    from pydicom.multival import MultiValue

    value = elem.value
    if isinstance(value, MultiValue | list):
        value = list(value)
    # The value was read or set through pydicom already: validating it again only costs time.
    return _new(elem, value, validation_mode=config.IGNORE)


def _new(elem: Any, value: Any, *, validation_mode: int | None = None) -> Any:
    from pydicom.dataelem import DataElement

    return DataElement(elem.tag, elem.VR, value, validation_mode=validation_mode)


def _check_pixels(ds: Any, config: DeidConfig) -> None:
    """Refuse what would leak or be silently left dirty, before any work."""
    cleaning = Option.CLEAN_PIXEL_DATA in config.options
    if cleaning and ("FloatPixelData" in ds or "DoubleFloatPixelData" in ds):
        raise DeidentificationError(
            "the Clean Pixel Data Option supports Pixel Data (7FE0,0010) only, not Float or "
            "Double Float Pixel Data; do not select it for this instance"
        )
    burned_in = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned_in == "YES" and not cleaning and not config.allow_burned_in:
        raise DeidentificationError(
            "Burned In Annotation (0028,0301) is YES: the pixels may show identifying text. "
            "Select the Clean Pixel Data Option with regions that cover it, or set "
            "allow_burned_in if you have checked this source"
        )


def _native_little_endian(ds: Any) -> bool:
    from pydicom.uid import UID

    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        return ds.original_encoding[1] is not False
    syntax = UID(syntax)
    if syntax.is_encapsulated:
        raise DeidentificationError(
            f"cannot clean compressed pixel data (Transfer Syntax {syntax.name}); decode it "
            "first (pydicom Dataset.decompress(), or dcmtk dcmdjpeg/dcmdjpls/dcmdrle) and "
            "de-identify the decoded instance"
        )
    return bool(syntax.is_little_endian)


def _set_method(out: Any, config: DeidConfig) -> None:
    """Patient Identity Removed, De-identification Method (+ Code Sequence), PS3.3 C.7.1.1."""
    from pydicom.dataset import Dataset

    applied = [option for option in _CID_7050_ORDER if option in config.options]
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = [option.value for option in applied]
    items = []
    for option in applied:
        item = Dataset()
        item.CodeValue = option.code_value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = option.value
        items.append(item)
    out.DeidentificationMethodCodeSequence = items
    if config.shifts_dates:
        out.LongitudinalTemporalInformationModified = "MODIFIED"
    elif config.keeps_full_dates:
        out.LongitudinalTemporalInformationModified = "UNMODIFIED"
    else:
        out.LongitudinalTemporalInformationModified = "REMOVED"


def _file_meta(meta: Any, out: Any, ctx: _Context) -> Any:
    """A fresh File Meta Information: same classes and syntax, the new instance UID."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

    new = FileMetaDataset()
    if "MediaStorageSOPClassUID" in meta:
        new.MediaStorageSOPClassUID = meta.MediaStorageSOPClassUID
    if "SOPInstanceUID" in out:
        new.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    elif "MediaStorageSOPInstanceUID" in meta:
        new.add(_apply(ctx.plan[0x00020003][1], meta["MediaStorageSOPInstanceUID"], ctx, False))
    if "TransferSyntaxUID" in meta:
        new.TransferSyntaxUID = meta.TransferSyntaxUID
    # The implementation writing these bytes is now pydicom, not the source's
    # (whose Source/Sending AE Titles and private meta could identify the site).
    new.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return new
