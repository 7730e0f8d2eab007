"""Holds a study's telemetry rows until its trace can be written whole.

A root span must know when its study ended, so rows wait here, grouped by
study, until the study is over: a study-level terminal row (``finalized``,
``delivered``...) arrived and ``settle_seconds`` passed without another row
(several models finalize, several destinations deliver), or nothing arrived
for ``quiet_seconds``. Rows that arrive for a study after its trace was
written form a *continuation*: their spans attach to the root written before.

The buffer is plain data, so the trace sink keeps it in the runtime's
checkpoint: a restart resumes the open studies instead of losing them.

>>> buffer = StudyBuffer(settle_seconds=1.0, quiet_seconds=60.0)
>>> buffer.add({"study_uid": "1.2", "level": "instance", "stage": "validated", "ts": 1.0}, now=0)
>>> buffer.due(now=30)
[]
>>> buffer.add({"study_uid": "1.2", "level": "study", "stage": "finalized", "ts": 2.0}, now=30)
>>> [(g.key, len(g.rows), g.continuation) for g in buffer.due(now=31)]
[('1.2', 2, False)]
>>> buffer.add({"study_uid": "1.2", "level": "study", "stage": "delivered", "ts": 9.0}, now=40)
>>> [(g.key, len(g.rows), g.continuation) for g in buffer.due(now=41)]
[('1.2', 1, True)]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamgale.errors import ConfigError
from streamgale.lake.schemas import TABLES

__all__ = ["DEFAULT_TERMINAL_STAGES", "StudyBuffer", "TraceGroup"]

DEFAULT_TERMINAL_STAGES = ("finalized", "delivered", "failed")
"""Study-level stages after which a study's trace may be written."""

_COLUMNS = frozenset(TABLES["telemetry"].column_names())
"""Only telemetry columns are kept: nothing else can reach a span by accident."""


@dataclass
class TraceGroup:
    """Rows to write as one piece of a trace.

    ``key`` is the Study Instance UID (or, for a row without one, its
    instance or record id); ``None`` for a row that names neither, which
    becomes a trace of its own. ``continuation`` says the study's root span
    was written before, so these rows only add child spans to it.
    """

    key: str | None
    rows: list[dict[str, Any]]
    continuation: bool = False


@dataclass
class _Open:
    rows: list[dict[str, Any]] = field(default_factory=list)
    last_seen: float = 0.0
    complete: bool = False
    continuation: bool = False


class StudyBuffer:
    """Telemetry rows grouped by study, released when each study is over.

    ``now`` values come from the caller's clock, in seconds; they are kept in
    snapshots, so use a clock that survives restarts (wall-clock time).
    ``max_rows`` bounds the rows held: past it, the studies seen first are
    released early (their later rows become continuations). The last
    ``remember`` written studies are remembered, so that their late rows
    become continuations rather than a second root span; a study forgotten
    sooner gets a second root (with the same id) if more of its rows come.
    """

    def __init__(
        self,
        *,
        settle_seconds: float = 2.0,
        quiet_seconds: float = 300.0,
        max_rows: int = 50_000,
        remember: int = 10_000,
        terminal_stages: Iterable[str] = DEFAULT_TERMINAL_STAGES,
    ) -> None:
        _check(settle_seconds >= 0, "settle_seconds", f"must be >= 0; got {settle_seconds!r}")
        _check(quiet_seconds > 0, "quiet_seconds", f"must be > 0; got {quiet_seconds!r}")
        _check(max_rows >= 1, "max_rows", f"must be >= 1; got {max_rows!r}")
        _check(remember >= 0, "remember", f"must be >= 0; got {remember!r}")
        self.settle_seconds = settle_seconds
        self.quiet_seconds = quiet_seconds
        self.max_rows = max_rows
        self.remember = remember
        self.terminal_stages = frozenset(terminal_stages)
        self._open: dict[str, _Open] = {}
        self._loose: list[dict[str, Any]] = []
        self._written: OrderedDict[str, None] = OrderedDict()
        self._rows = 0

    def __len__(self) -> int:
        """Rows held."""
        return self._rows + len(self._loose)

    def add(self, row: Mapping[str, Any], now: float) -> None:
        """Hold one telemetry row (columns other than the telemetry table's are dropped)."""
        kept = {k: v for k, v in row.items() if k in _COLUMNS and v is not None}
        key = kept.get("study_uid") or kept.get("instance_uid")
        if not key:
            self._loose.append(kept)
            return
        key = str(key)
        group = self._open.get(key)
        if group is None:
            group = self._open[key] = _Open(continuation=key in self._written)
        group.rows.append(kept)
        group.last_seen = now
        if kept.get("level") == "study" and kept.get("stage") in self.terminal_stages:
            group.complete = True
        self._rows += 1

    def due(self, now: float) -> list[TraceGroup]:
        """Release the groups whose time has come (see the module docstring)."""
        out = [TraceGroup(None, [row]) for row in self._loose]
        self._loose = []
        for key, group in list(self._open.items()):
            idle = now - group.last_seen
            if idle >= self.quiet_seconds or (group.complete and idle >= self.settle_seconds):
                out.append(self._release(key))
        while self._rows > self.max_rows:
            out.append(self._release(next(iter(self._open))))
        return out

    def snapshot(self) -> dict[str, Any]:
        """The held rows and the studies already written, as plain picklable data."""
        return {
            "open": [
                (key, g.rows, g.last_seen, g.complete, g.continuation)
                for key, g in self._open.items()
            ],
            "loose": list(self._loose),
            "written": list(self._written),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`snapshot` returned (into an empty buffer)."""
        for key, rows, last_seen, complete, continuation in state["open"]:
            self._open[key] = _Open(list(rows), last_seen, complete, continuation)
            self._rows += len(rows)
        self._loose.extend(state["loose"])
        self._written.update((key, None) for key in state["written"])

    def _release(self, key: str) -> TraceGroup:
        group = self._open.pop(key)
        self._rows -= len(group.rows)
        self._written[key] = None
        self._written.move_to_end(key)
        while len(self._written) > self.remember:
            self._written.popitem(last=False)
        return TraceGroup(key, group.rows, group.continuation)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(message, key=key)
