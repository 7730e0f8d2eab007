"""De-identification options (PS3.16 CID 7050) and the frozen, validated configuration.

The option names and codes are those of CID 7050 "De-identification Method"
(coding scheme DCM); the Enum *value* is the code meaning, so a YAML file can
name an option by its meaning, its code value or its Python name:

>>> Option.parse("113107") is Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES
True
>>> Option.parse("Clean Descriptors Option").code_value
'113105'

The secret keys every pseudonym (HMAC-SHA256); keep it out of the repository
and generate one with ``python -c "import secrets; print(secrets.token_hex(32))"``:

>>> config = DeidConfig(options={"113108"}, secret=bytes.fromhex("00" * 32))
>>> sorted(option.code_value for option in config.options)
['113100', '113108']
>>> "secret" in repr(config)
False
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from streamgale.errors import ConfigError

__all__ = ["SUPPORTED_OPTIONS", "DeidConfig", "Option", "Region"]

Region = tuple[int, int, int, int]
"""A pixel rectangle ``(row0, col0, row1, col1)``: rows ``row0 <= r < row1``, same for columns."""

_MIN_SECRET_BYTES = 16
_MAX_PREFIX = 16
_MAX_SHIFT_DAYS = 36500  # a century: beyond that a shift only makes dates implausible
_PREFIX = re.compile(r"[A-Z0-9_-]*\Z")


class Option(Enum):
    """PS3.16 CID 7050 De-identification Method; value = code meaning (scheme DCM)."""

    BASIC_PROFILE = "Basic Application Confidentiality Profile"
    CLEAN_PIXEL_DATA = "Clean Pixel Data Option"
    CLEAN_RECOGNIZABLE_VISUAL_FEATURES = "Clean Recognizable Visual Features Option"
    CLEAN_GRAPHICS = "Clean Graphics Option"
    CLEAN_STRUCTURED_CONTENT = "Clean Structured Content Option"
    CLEAN_DESCRIPTORS = "Clean Descriptors Option"
    RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_FULL_DATES = (
        "Retain Longitudinal Temporal Information Full Dates Option"
    )
    RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES = (
        "Retain Longitudinal Temporal Information Modified Dates Option"
    )
    RETAIN_PATIENT_CHARACTERISTICS = "Retain Patient Characteristics Option"
    RETAIN_DEVICE_IDENTITY = "Retain Device Identity Option"
    RETAIN_UIDS = "Retain UIDs Option"
    RETAIN_SAFE_PRIVATE = "Retain Safe Private Option"
    RETAIN_INSTITUTION_IDENTITY = "Retain Institution Identity Option"

    @property
    def code_value(self) -> str:
        """The CID 7050 code value (coding scheme designator ``DCM``)."""
        return _CODE_VALUES[self.name]

    @classmethod
    def parse(cls, value: Option | str) -> Option:
        """An option from itself, its code meaning, its code value or its Python name."""
        if isinstance(value, Option):
            return value
        text = str(value).strip()
        for option in cls:
            if text in (option.value, option.code_value, option.name):
                return option
        allowed = ", ".join(f"{o.name} ({o.code_value})" for o in cls)
        raise ConfigError(
            f"unknown de-identification option {value!r}; expected one of: {allowed}",
            key="options",
        )


_CODE_VALUES = {
    "BASIC_PROFILE": "113100",
    "CLEAN_PIXEL_DATA": "113101",
    "CLEAN_RECOGNIZABLE_VISUAL_FEATURES": "113102",
    "CLEAN_GRAPHICS": "113103",
    "CLEAN_STRUCTURED_CONTENT": "113104",
    "CLEAN_DESCRIPTORS": "113105",
    "RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_FULL_DATES": "113106",
    "RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES": "113107",
    "RETAIN_PATIENT_CHARACTERISTICS": "113108",
    "RETAIN_DEVICE_IDENTITY": "113109",
    "RETAIN_UIDS": "113110",
    "RETAIN_SAFE_PRIVATE": "113111",
    "RETAIN_INSTITUTION_IDENTITY": "113112",
}

SUPPORTED_OPTIONS: frozenset[Option] = frozenset(
    {
        Option.BASIC_PROFILE,
        Option.CLEAN_PIXEL_DATA,
        Option.CLEAN_STRUCTURED_CONTENT,
        Option.CLEAN_DESCRIPTORS,
        Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_FULL_DATES,
        Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES,
        Option.RETAIN_PATIENT_CHARACTERISTICS,
        Option.RETAIN_DEVICE_IDENTITY,
        Option.RETAIN_UIDS,
        Option.RETAIN_INSTITUTION_IDENTITY,
    }
)
"""Options :func:`~streamgale.dicom.deid.deidentify` implements; the others are refused."""


@dataclass(frozen=True)
class DeidConfig:
    """How a route de-identifies: PS3.15 Annex E Basic Profile plus ``options``.

    ``secret`` keys the HMAC behind every pseudonym (UIDs, Patient ID, date
    shift): the same secret maps the same patient to the same pseudonym in
    every run, a different secret to unrelated ones. It must be at least 16
    random bytes. ``clean_pixel_regions`` (rectangles in pixels) are blanked
    in every frame when :attr:`Option.CLEAN_PIXEL_DATA` is selected, and are
    required by it. ``allow_burned_in`` lets instances with Burned In
    Annotation (0028,0301) = YES through without pixel cleaning.
    """

    options: frozenset[Option] = field(default_factory=frozenset)
    secret: bytes = field(default=b"", repr=False)
    pseudonym_prefix: str = "SG"
    max_date_shift_days: int = 365
    clean_pixel_regions: tuple[Region, ...] | None = None
    allow_burned_in: bool = False

    def __post_init__(self) -> None:
        options = _parse_options(self.options)
        object.__setattr__(self, "options", options)
        _check_secret(self.secret)
        _check_prefix(self.pseudonym_prefix)
        days = self.max_date_shift_days
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= _MAX_SHIFT_DAYS:
            raise ConfigError(
                f"must be a whole number of days from 1 to {_MAX_SHIFT_DAYS}; got {days!r}",
                key="max_date_shift_days",
            )
        regions = _parse_regions(self.clean_pixel_regions)
        object.__setattr__(self, "clean_pixel_regions", regions)
        if (Option.CLEAN_PIXEL_DATA in options) != bool(regions):
            raise ConfigError(
                "clean_pixel_regions and the Clean Pixel Data Option (113101) go together: "
                "select the option and list at least one (row0, col0, row1, col1) rectangle, "
                "or neither",
                key="clean_pixel_regions",
            )
        if not isinstance(self.allow_burned_in, bool):
            raise ConfigError(
                f"must be true or false; got {self.allow_burned_in!r}", key="allow_burned_in"
            )

    @property
    def shifts_dates(self) -> bool:
        """Whether dates are shifted per patient (Modified Dates Option, 113107)."""
        return Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES in self.options

    @property
    def keeps_full_dates(self) -> bool:
        """Whether dates are kept unchanged (Full Dates Option, 113106)."""
        return Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_FULL_DATES in self.options


def _parse_options(raw: Iterable[Option | str]) -> frozenset[Option]:
    if isinstance(raw, str | bytes):
        raise ConfigError(
            f"must be a list of options; got the single string {raw!r}", key="options"
        )
    options = {Option.parse(value) for value in raw} | {Option.BASIC_PROFILE}
    unsupported = sorted(o.name for o in options - SUPPORTED_OPTIONS)
    if unsupported:
        supported = ", ".join(sorted(o.name for o in SUPPORTED_OPTIONS))
        raise ConfigError(
            f"option(s) {', '.join(unsupported)} are not implemented; supported: {supported}",
            key="options",
        )
    full = Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_FULL_DATES
    modified = Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES
    if full in options and modified in options:
        raise ConfigError(
            "the Full Dates (113106) and Modified Dates (113107) options exclude each other; "
            "choose one",
            key="options",
        )
    return frozenset(options)


def _check_secret(secret: object) -> None:
    if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
        got = f"{len(secret)} bytes" if isinstance(secret, bytes) else type(secret).__name__
        raise ConfigError(
            f"must be at least {_MIN_SECRET_BYTES} random bytes; got {got}. Generate one with "
            'python -c "import secrets; print(secrets.token_hex(32))" and pass '
            "bytes.fromhex(<that text>); keep it secret and keep it stable, or pseudonyms change",
            key="secret",
        )


def _check_prefix(prefix: object) -> None:
    if not isinstance(prefix, str) or len(prefix) > _MAX_PREFIX or not _PREFIX.match(prefix):
        raise ConfigError(
            f"must be at most {_MAX_PREFIX} characters of A-Z, 0-9, '-' or '_'; got {prefix!r}",
            key="pseudonym_prefix",
        )


def _parse_regions(raw: Iterable[Iterable[int]] | None) -> tuple[Region, ...]:
    if raw is None:
        return ()
    regions = []
    for item in raw:
        values = tuple(item)
        if (
            len(values) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
            or not (0 <= values[0] < values[2] and 0 <= values[1] < values[3])
        ):
            raise ConfigError(
                f"each region must be (row0, col0, row1, col1) with 0 <= row0 < row1 and "
                f"0 <= col0 < col1, in pixels; got {item!r}",
                key="clean_pixel_regions",
            )
        regions.append((values[0], values[1], values[2], values[3]))
    return tuple(regions)
