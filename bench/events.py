"""Deterministic input events for the streaming-core benchmark.

Every implementation, in every child process, calls :func:`generate` with the
same ``n`` and ``seed`` and gets bit-identical columns, so the benchmark never
has to ship the input between processes. :func:`digest` fingerprints the
columns; the harness checks that every run saw the same digest.

The stream models a sensor feed at 10,000 events/s of event time:

* ``key``: int64 in ``[0, 10_000)``, uniform.
* ``ts``: event time in seconds since the Unix epoch (float64). Event ``i`` is
  due at ``EPOCH_S + i / rate`` and arrives up to 2 s late: ``ts`` is that
  minus a disorder drawn uniformly from ``[0, 2)`` s.
* ``value``: float64, uniform in ``[0, 100)``.

Event times are whole microseconds. That keeps them exact when converted to
``datetime`` (Bytewax's clock type, microsecond resolution) and keeps them at
least 1 microsecond away from any window boundary they do not sit on, so float
floor division, integer division and ``datetime`` arithmetic all assign every
event to the same window.

Because the due times step forward by 100 microseconds and the disorder is
strictly below 2 s, every event is newer than (largest event time seen so far
- 2 s): with a watermark of "max event time - 2 s" no event is ever late.

>>> cols = generate(5, seed=1)
>>> len(cols), cols.key.dtype.name, cols.ts.dtype.name
(5, 'int64', 'float64')
>>> bool((cols.ts <= EPOCH_S + 4 / DEFAULT_RATE).all())
True
>>> digest(generate(1000, seed=7)) == digest(generate(1000, seed=7))
True
>>> next(iter_tuples(generate(1, seed=3)))[0] in range(NUM_KEYS)
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_EVENTS = 2_000_000
DEFAULT_SEED = 20_240_601
DEFAULT_RATE = 10_000
"""Events per second of event time."""
NUM_KEYS = 10_000
EPOCH_S = 1_700_000_000
"""Due time of the first event, in whole seconds since the Unix epoch."""
MAX_DISORDER_US = 2_000_000
"""Events arrive up to (strictly less than) this many microseconds late."""
VALUE_HIGH = 100.0

_US_PER_S = 1_000_000


@dataclass(frozen=True)
class EventColumns:
    """The generated events as three equal-length numpy columns, in arrival order."""

    key: npt.NDArray[np.int64]
    ts: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.key.shape[0])

    def as_mapping(self) -> dict[str, npt.NDArray[Any]]:
        """Return ``{"key": ..., "ts": ..., "value": ...}`` (no copies), e.g. for a ColumnBatch."""
        return {"key": self.key, "ts": self.ts, "value": self.value}


def generate(
    n: int = DEFAULT_EVENTS, seed: int = DEFAULT_SEED, rate: int = DEFAULT_RATE
) -> EventColumns:
    """Generate ``n`` events deterministically from ``seed`` (see the module docstring).

    ``rate`` must divide one million so that due times are whole microseconds.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0 events; got {n}")
    if rate <= 0 or _US_PER_S % rate:
        raise ValueError(f"rate must be a positive divisor of 1,000,000 events/s; got {rate}")
    rng = np.random.default_rng(seed)
    # Draw order is part of the format: keys, then disorder, then values.
    key = rng.integers(0, NUM_KEYS, size=n, dtype=np.int64)
    disorder_us = rng.integers(0, MAX_DISORDER_US, size=n, dtype=np.int64)
    value = rng.random(n) * VALUE_HIGH
    due_us = EPOCH_S * _US_PER_S + np.arange(n, dtype=np.int64) * (_US_PER_S // rate)
    ts = (due_us - disorder_us) / _US_PER_S
    return EventColumns(key=key, ts=ts, value=value)


def iter_tuples(columns: EventColumns) -> Iterator[tuple[int, float, float]]:
    """Yield ``(key, ts, value)`` tuples of plain Python numbers, in arrival order."""
    return zip(columns.key.tolist(), columns.ts.tolist(), columns.value.tolist(), strict=True)


def iter_dicts(columns: EventColumns) -> Iterator[dict[str, Any]]:
    """Yield ``{"key": ..., "ts": ..., "value": ...}`` dicts, in arrival order."""
    for key, ts, value in iter_tuples(columns):
        yield {"key": key, "ts": ts, "value": value}


def digest(columns: EventColumns) -> str:
    """Return a short hex fingerprint of the columns (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for name, col in columns.as_mapping().items():
        h.update(f"{name}:{col.dtype.str}:{col.shape}".encode())
        h.update(np.ascontiguousarray(col).tobytes())
    return h.hexdigest()[:16]
