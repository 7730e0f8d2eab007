"""Fixtures for the log tests: one factory that builds every backend."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamgale.log import Log, MemoryLog, Retention, SegmentLog

from .helpers import RECORDS_PER_SEGMENT, SEGMENT_BYTES

LogFactory = Callable[..., Log]


@pytest.fixture(params=["memory", "segment"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogFactory]:
    """Build logs of the parametrized backend; closes every log it built."""
    built: list[Log] = []

    def make(retention: Retention | None = None, clock: Callable[[], float] = time.time) -> Log:
        log: Log
        if request.param == "memory":
            log = MemoryLog(retention, segment_records=RECORDS_PER_SEGMENT, clock=clock)
        else:
            directory = tmp_path / f"log{len(built)}"
            log = SegmentLog(
                directory, segment_bytes=SEGMENT_BYTES, retention=retention, clock=clock
            )
        built.append(log)
        return log

    yield make
    for log in built:
        log.close()


@pytest.fixture
def log(make_log: LogFactory) -> Log:
    """A log of the parametrized backend with one two-partition topic, "events"."""
    built = make_log()
    built.create_topic("events", 2)
    return built
