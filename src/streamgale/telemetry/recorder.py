"""Record lifecycle events and results as rows on a durable log topic.

Steps, doors and delivery workers call :class:`Telemetry` as work happens;
each call appends one log record (a JSON array of rows) to the ``telemetry``
topic. From there the rows are a stream like any other: the landing steps
(:func:`streamgale.telemetry.land`) write them to the Parquet lake and, when
configured, to an OpenTelemetry exporter; anything else can read the topic.

Telemetry is at-least-once: a step replayed after a crash records its stage
again. Every row carries the ids needed to recognise such repeats, and the
lake lands each key once (:mod:`streamgale.lake.keys`). A lifecycle event's
key is its ``event_id``: a digest of what the event is about (stage, step,
level, the study, series and instance, the model, the outcome, and the
caller's ``key`` for events that may legitimately happen again, such as the
arrival time of a resent instance), so a replay gives the same id. An event
about no study, series or instance (a refusal at the door) gets a random id.

>>> from streamgale.log import MemoryLog
>>> log = MemoryLog()
>>> telemetry = Telemetry(log, "radiology", clock=lambda: 1.0)
>>> telemetry.stage("validated", step="prepare", level="instance", instance_uid="1.2.3",
...                 duration_ms=0.4)
>>> [(r["table"], r["stage"], r["ts"]) for r in telemetry.read_all()]
[('telemetry', 'validated', 1.0)]
>>> again = telemetry.stage_row("validated", step="prepare", level="instance",
...                             instance_uid="1.2.3", duration_ms=0.9)
>>> again["event_id"] == telemetry.read_all()[0]["event_id"]
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from streamgale.errors import ConfigError
from streamgale.fsutil import is_out_of_space
from streamgale.lake.schemas import STAGES, TABLES
from streamgale.log.base import Log

__all__ = ["HELD_RECORDS", "TOPIC", "Telemetry"]

logger = logging.getLogger(__name__)

HELD_RECORDS = 10_000
"""Records (each a batch of rows) held in memory while the disk is full."""
_HELD_RETRY_S = 1.0
"""How often held records are tried again (each try re-sends all of them)."""

TOPIC = "telemetry"
"""The log topic telemetry rows travel on."""

_OUTCOMES = frozenset({"ok", "failed", "quarantined", "refused"})
_LEVELS = frozenset({"instance", "series", "study"})
_IDENTITY = (
    "route",
    "study_uid",
    "series_uid",
    "instance_uid",
    "model",
    "model_version",
    "variant",
)
"""The columns, besides stage, step, level and outcome, that say what an event is about."""
_SUBJECTS = ("study_uid", "series_uid", "instance_uid")


class Telemetry:
    """Appends telemetry rows of one pipeline to ``topic`` in ``log``; thread-safe.

    ``enabled=False`` makes every call a no-op (the way to measure what
    telemetry costs). ``clock`` gives the default ``ts`` (unix seconds).
    """

    def __init__(
        self,
        log: Log,
        pipeline: str,
        *,
        topic: str = TOPIC,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.log = log
        self.pipeline = pipeline
        self.topic = topic
        self.enabled = enabled
        self._clock = clock
        # Checked on every row: computed once, not per call.
        self._columns = {name: frozenset(spec.column_names()) for name, spec in TABLES.items()}
        self._held: list[bytes] = []
        self._held_lock = threading.Lock()
        self._held_retry_at = 0.0
        self.dropped = 0
        """Records dropped because the disk stayed full past :data:`HELD_RECORDS`."""
        log.create_topic(topic, 1)

    def stage(
        self,
        stage: str,
        *,
        step: str,
        level: str,
        outcome: str = "ok",
        key: Any = None,
        **columns: Any,
    ) -> None:
        """One lifecycle event: ``stage`` ended for an instance, series or study.

        ``key`` tells apart events that are otherwise the same (see the module
        docstring); it is part of the ``event_id``, not a column.
        """
        if not self.enabled:
            return
        self.emit(
            [self.stage_row(stage, step=step, level=level, outcome=outcome, key=key, **columns)]
        )

    def stage_row(
        self,
        stage: str,
        *,
        step: str,
        level: str,
        outcome: str = "ok",
        key: Any = None,
        **columns: Any,
    ) -> dict[str, Any]:
        """The row :meth:`stage` would record, for callers that emit several at once."""
        if stage not in STAGES:
            raise ConfigError(f"unknown telemetry stage {stage!r}; known: {', '.join(STAGES)}")
        if level not in _LEVELS or outcome not in _OUTCOMES:
            raise ConfigError(
                f"telemetry level must be one of {sorted(_LEVELS)} and outcome one of "
                f"{sorted(_OUTCOMES)}; got level={level!r}, outcome={outcome!r}"
            )
        if "event_id" not in columns:
            about = [self.pipeline, stage, step, level, outcome, key]
            columns["event_id"] = _event_id(about, columns)
        return self.row(
            "telemetry", stage=stage, step=step, level=level, outcome=outcome, **columns
        )

    def row(self, table: str, **columns: Any) -> dict[str, Any]:
        """A row for ``table`` with this pipeline's name and a default ``ts``."""
        known = self._columns.get(table)
        if known is None:
            raise ConfigError(f"unknown lake table {table!r}; known: {', '.join(TABLES)}")
        if not known.issuperset(columns):
            unknown = sorted(set(columns) - known)
            raise ConfigError(
                f"table {table!r} has no column(s) {', '.join(unknown)}; "
                f"its columns: {', '.join(TABLES[table].column_names())}"
            )
        return {"table": table, "ts": self._clock(), "pipeline": self.pipeline, **columns}

    def emit(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append ``rows`` as one log record (nothing when disabled or empty)."""
        if not self.enabled:
            return
        batch = list(rows)
        if not batch:
            return
        payload = json.dumps(batch, separators=(",", ":"), default=_plain).encode()
        if self._held:  # the disk was full: what waits goes first, in order
            self._append_held(payload)
            return
        try:
            self.log.append(self.topic, 0, [payload])
        except Exception as exc:  # the log wraps the OSError
            if not is_out_of_space(exc):
                raise
            self._append_held(payload)

    def _append_held(self, payload: bytes) -> None:
        """Append ``payload`` after the records held back by a full disk, or hold it
        too (telemetry must never stop the pipeline it measures). The held records
        are tried again at most every :data:`_HELD_RETRY_S`; past
        :data:`HELD_RECORDS` the oldest are dropped, with a warning."""
        with self._held_lock:
            self._held.append(payload)
            if len(self._held) > HELD_RECORDS:
                del self._held[0]
                if not self.dropped:
                    logger.warning("telemetry dropped: the disk stayed full too long")
                self.dropped += 1
            now = time.monotonic()
            if now < self._held_retry_at:
                return
            try:
                self.log.append(self.topic, 0, self._held)
            except Exception as exc:
                if not is_out_of_space(exc):
                    raise
                if len(self._held) == 1:
                    logger.warning("telemetry held in memory: the disk is full (%s)", exc)
                self._held_retry_at = now + _HELD_RETRY_S
                return
            self._held.clear()

    def read_all(self) -> list[dict[str, Any]]:
        """Every row on the topic so far (for tests and small tools)."""
        rows: list[dict[str, Any]] = []
        offset = self.log.start_offset(self.topic, 0)
        while records := self.log.read(self.topic, 0, offset, 1024):
            for record in records:
                rows.extend(json.loads(record.payload))
            offset = records[-1].offset + 1
        return rows


def _event_id(about: list[Any], columns: Mapping[str, Any]) -> str:
    """The same id for the same event recorded again; random for an event about nothing."""
    if all(columns.get(name) is None for name in _SUBJECTS):
        return uuid.uuid4().hex
    about = [*about, *(columns.get(name) for name in _IDENTITY)]
    text = json.dumps(about, separators=(",", ":"), default=_plain)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot record {type(value).__name__} in telemetry")
