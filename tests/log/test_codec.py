"""Record framing: the vectorised and the plain paths agree, and damage is caught."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamgale.log import LogRecord
from streamgale.log.codec import decode, encode
from streamgale.log.frame import HEADER_SIZE, BadFrameError, decode_frames, encode_frames
from streamgale.log.vectorized import MIN_RUN, encode_batch

batches = st.lists(st.binary(max_size=40), max_size=3 * MIN_RUN) | st.integers(0, 300).map(
    lambda n: [b"fixed-size"] * n
)


@settings(max_examples=60, deadline=None)
@given(payloads=batches, first=st.integers(0, 2**40), timestamp=st.floats(0, 2e9))
def test_both_encoders_write_the_same_bytes(
    payloads: list[bytes], first: int, timestamp: float
) -> None:
    expected = encode_frames(first, timestamp, payloads)
    assert encode(first, timestamp, payloads) == expected
    if payloads:
        assert encode_batch(first, timestamp, payloads) == expected


@settings(max_examples=60, deadline=None)
@given(payloads=batches, first=st.integers(0, 2**40), count=st.integers(1, 400))
def test_decode_returns_what_was_encoded(payloads: list[bytes], first: int, count: int) -> None:
    data = encode(first, 5.0, payloads)
    fast: list[LogRecord] = []
    plain: list[LogRecord] = []
    end = decode(data, 0, first, count, fast)
    assert end == decode_frames(data, 0, first, count, plain)
    assert fast == plain
    taken = min(count, len(payloads))
    assert [r.payload for r in fast] == payloads[:taken]
    assert [r.offset for r in fast] == list(range(first, first + taken))
    assert end == sum(HEADER_SIZE + len(p) for p in payloads[:taken])


def test_decode_stops_at_an_incomplete_frame() -> None:
    data = encode(0, 1.0, [b"x" * 10] * 200)
    cut = data[: 150 * (HEADER_SIZE + 10) + 17]
    out: list[LogRecord] = []
    assert decode(cut, 0, 0, 1000, out) == 150 * (HEADER_SIZE + 10)
    assert len(out) == 150


@pytest.mark.parametrize("bad", [0, 5, 150, 199])
@pytest.mark.parametrize("where", [8, HEADER_SIZE + 3])  # the offset field, the payload
def test_a_damaged_frame_raises_wherever_it_is(bad: int, where: int) -> None:
    frame = HEADER_SIZE + 10
    data = bytearray(encode(0, 1.0, [b"y" * 10] * 200))
    data[bad * frame + where] ^= 1
    with pytest.raises(BadFrameError) as raised:
        decode(bytes(data), 0, 0, 200, [])
    assert raised.value.offset == bad
    assert raised.value.position == bad * frame
