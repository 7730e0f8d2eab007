"""Shared helpers for the log tests."""

from __future__ import annotations

# 76-byte payloads make 100-byte frames (24-byte header), so both backends hold
# exactly RECORDS_PER_SEGMENT records per segment and retention drops the same ones.
PAYLOAD_SIZE = 76
RECORDS_PER_SEGMENT = 10
SEGMENT_BYTES = (24 + PAYLOAD_SIZE) * RECORDS_PER_SEGMENT


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def payload(n: int) -> bytes:
    """A recognisable PAYLOAD_SIZE-byte payload for record ``n``."""
    return f"record-{n}".encode().ljust(PAYLOAD_SIZE, b".")


def payloads(start: int, count: int) -> list[bytes]:
    """Payloads of records ``start`` .. ``start + count - 1``."""
    return [payload(n) for n in range(start, start + count)]
