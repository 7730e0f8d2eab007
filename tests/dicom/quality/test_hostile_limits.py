"""Hostile instances refused by validation before anything large is decoded or allocated."""

from __future__ import annotations

import resource
import time

import pytest

from streamgale.dicom.quality import ValidationLimits, validate_bytes
from streamgale.errors import ConfigError, InvalidInstanceError
from tests.dicom.quality.hostile import j2k_bomb

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _reason(data: bytes, limits: ValidationLimits) -> str:
    with pytest.raises(InvalidInstanceError) as caught:
        validate_bytes(data, limits)
    return caught.value.reason


def test_a_decompression_bomb_is_refused_before_any_frame_is_decoded() -> None:
    bomb = j2k_bomb("bomb")  # 4096 frames of 2048 x 2048: 16 GiB decoded
    assert len(bomb) < 2 << 20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    reason = _reason(bomb, ValidationLimits())
    assert "17179869184 bytes" in reason and "max_pixel_bytes" in reason
    assert time.perf_counter() - started < 5
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grown_mib < 64, f"peak RSS grew {grown_mib:.0f} MiB"


def test_the_decoded_size_limit_is_configurable() -> None:
    small = j2k_bomb("small", size=64, frames=4)  # 16 KiB decoded
    validate_bytes(small, ValidationLimits())
    reason = _reason(small, ValidationLimits(max_pixel_bytes=16383))
    assert reason.startswith("the pixels would decode to 16384 bytes (Rows 64 x Columns 64")


def test_the_decoded_size_limit_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_pixel_bytes"):
        ValidationLimits(max_pixel_bytes=0)
