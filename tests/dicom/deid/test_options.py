"""Option vocabulary (CID 7050) and DeidConfig validation."""

from __future__ import annotations

import pytest
from pydicom.sr.codedict import codes

from streamgale.dicom.deid import SUPPORTED_OPTIONS, DeidConfig, Option
from streamgale.errors import ConfigError

SECRET = bytes(32)


@pytest.mark.parametrize("option", list(Option), ids=lambda o: o.name)
def test_codes_and_meanings_match_cid_7050(option: Option) -> None:
    concept = next(c for c in codes.cid7050.concepts.values() if c.value == option.code_value)
    assert (concept.scheme_designator, concept.meaning) == ("DCM", option.value)


def test_every_cid_7050_code_is_an_option() -> None:
    assert {c.value for c in codes.cid7050.concepts.values()} == {o.code_value for o in Option}


@pytest.mark.parametrize(
    "text",
    ["113108", "Retain Patient Characteristics Option", "RETAIN_PATIENT_CHARACTERISTICS"],
)
def test_options_parse_from_code_meaning_or_name(text: str) -> None:
    config = DeidConfig(options={text}, secret=SECRET)
    assert config.options == {Option.BASIC_PROFILE, Option.RETAIN_PATIENT_CHARACTERISTICS}


def test_basic_profile_is_always_applied() -> None:
    assert DeidConfig(secret=SECRET).options == {Option.BASIC_PROFILE}


@pytest.mark.parametrize(
    ("kwargs", "key", "message"),
    [
        ({"secret": b"short"}, "secret", "at least 16 random bytes; got 5 bytes"),
        ({"secret": "a text secret of enough length"}, "secret", "got str"),
        ({"options": {"113999"}}, "options", "unknown de-identification option"),
        ({"options": "113105"}, "options", "single string"),
        ({"options": {Option.RETAIN_SAFE_PRIVATE}}, "options", "RETAIN_SAFE_PRIVATE are not"),
        ({"options": {"113106", "113107"}}, "options", "exclude each other"),
        ({"pseudonym_prefix": "sg lower"}, "pseudonym_prefix", "A-Z, 0-9"),
        ({"pseudonym_prefix": "X" * 17}, "pseudonym_prefix", "at most 16"),
        ({"max_date_shift_days": 0}, "max_date_shift_days", "from 1 to"),
        ({"max_date_shift_days": True}, "max_date_shift_days", "whole number"),
        ({"options": {"113101"}}, "clean_pixel_regions", "go together"),
        ({"clean_pixel_regions": [(0, 0, 4, 4)]}, "clean_pixel_regions", "go together"),
        (
            {"options": {"113101"}, "clean_pixel_regions": [(4, 0, 4, 8)]},
            "clean_pixel_regions",
            "row0 < row1",
        ),
        ({"allow_burned_in": "yes"}, "allow_burned_in", "true or false"),
    ],
)
def test_invalid_configs_name_the_key_and_the_fix(
    kwargs: dict[str, object], key: str, message: str
) -> None:
    kwargs.setdefault("secret", SECRET)
    with pytest.raises(ConfigError, match=message) as raised:
        DeidConfig(**kwargs)  # type: ignore[arg-type]
    assert raised.value.key == key


def test_short_secret_message_says_how_to_generate_one() -> None:
    with pytest.raises(ConfigError, match=r"secrets\.token_hex\(32\)"):
        DeidConfig(secret=b"")


def test_regions_become_a_tuple_and_the_config_is_frozen_and_hashable() -> None:
    config = DeidConfig(
        options={Option.CLEAN_PIXEL_DATA}, secret=SECRET, clean_pixel_regions=[[0, 0, 8, 64]]
    )
    assert config.clean_pixel_regions == ((0, 0, 8, 64),)
    assert hash(config) == hash(
        DeidConfig(
            options={Option.CLEAN_PIXEL_DATA}, secret=SECRET, clean_pixel_regions=[(0, 0, 8, 64)]
        )
    )
    with pytest.raises(AttributeError):
        config.secret = b"x" * 32  # type: ignore[misc]


def test_the_secret_never_appears_in_repr() -> None:
    secret = b"very-secret-bytes-0123456789"
    assert repr(secret)[2:-1] not in repr(DeidConfig(secret=secret))


def test_unsupported_options_are_the_documented_ones() -> None:
    assert set(Option) - SUPPORTED_OPTIONS == {
        Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES,
        Option.CLEAN_GRAPHICS,
        Option.RETAIN_SAFE_PRIVATE,
    }
