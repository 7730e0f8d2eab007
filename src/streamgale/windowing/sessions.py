"""Per-record engine for session windows.

A session of a key is ``[first event, last event + gap)``. For a record at
time ``t`` with watermark ``wm`` just before it, a session is *open* when
``last + gap + lateness > wm``. The record:

* joins every open session of its key that overlaps ``[t, t + gap)``; when
  there are several, they merge into one (accumulators combined in order of
  session start, then the value folded in);
* otherwise opens ``[t, t + gap)`` if ``t + gap + lateness > wm``;
* otherwise is late.

A session that is no longer open is final: a later record starting inside
its gap opens a new session, so sessions of one key may overlap in time.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.windowing.clock import WatermarkTracker
from streamgale.windowing.results import sort_keys
from streamgale.windowing.spec import AggregateSpec

__all__ = ["SessionWindows"]


@dataclass
class _Session:
    key: Hashable
    start: float
    last: float
    accs: list[Any]
    uid: int


class SessionWindows:
    """Open sessions of every key, folded record by record."""

    def __init__(self, spec: AggregateSpec) -> None:
        self._spec = spec
        self._sessions: dict[Hashable, list[_Session]] = {}
        self._live: dict[int, _Session] = {}
        self._heap: list[tuple[float, int]] = []  # (end, uid); stale entries are skipped
        self._seq = 0  # arrival number, for First/Last when sessions merge
        self._next_uid = 0

    def add(
        self, records: list[Any], tracker: WatermarkTracker, now: float
    ) -> npt.NDArray[np.bool_]:
        """Fold a batch arriving at ``now``; returns the mask of late records."""
        times = self._spec.clock.times_of(records)
        before = tracker.observe(times, now).tolist()
        late = np.zeros(len(records), np.bool_)
        for i, (record, t) in enumerate(zip(records, times.tolist(), strict=True)):
            late[i] = not self._fold(record, t, before[i])
            self._seq += 1
        return late

    def _fold(self, record: Any, t: float, watermark: float) -> bool:
        gap, lateness = self._spec.gap, self._spec.lateness
        key = self._spec.key_of(record)
        mine = self._sessions.get(key, [])
        joined = [
            s
            for s in mine
            if s.last + gap + lateness > watermark and s.start < t + gap and t < s.last + gap
        ]
        if not joined and t + gap + lateness <= watermark:
            return False
        values = self._spec.values_of(record)
        if joined:
            self._extend(key, joined, values, t)
        else:
            self._open(key, values, t)
        return True

    def _open(self, key: Hashable, values: list[Any], t: float) -> None:
        accs = [
            a.initial(v, self._seq) for a, v in zip(self._spec.aggregations, values, strict=True)
        ]
        session = _Session(key, t, t, accs, self._next_uid)
        self._next_uid += 1
        self._live[session.uid] = session
        self._sessions.setdefault(key, []).append(session)
        heapq.heappush(self._heap, (t + self._spec.gap, session.uid))

    def _extend(self, key: Hashable, joined: list[_Session], values: list[Any], t: float) -> None:
        """Merge ``joined`` into the one starting first, then fold the record in."""
        aggs = self._spec.aggregations
        joined.sort(key=lambda s: s.start)
        target = joined[0]
        for other in joined[1:]:
            target.accs = [
                a.combine(x, y) for a, x, y in zip(aggs, target.accs, other.accs, strict=True)
            ]
            target.last = max(target.last, other.last)
            del self._live[other.uid]  # its heap entry goes stale
        if len(joined) > 1:
            self._sessions[key] = [s for s in self._sessions[key] if s.uid in self._live]
        target.accs = [
            a.fold(acc, v, self._seq) for a, acc, v in zip(aggs, target.accs, values, strict=True)
        ]
        target.start = min(target.start, t)
        # The heap entry may now hold an end that is too early; _top() reschedules it.
        target.last = max(target.last, t)

    def close(self, watermark: float) -> list[dict[str, Any]]:
        """Result rows of sessions with ``last + gap + lateness <= watermark``."""
        done: list[_Session] = []
        while (top := self._top()) is not None and top + self._spec.lateness <= watermark:
            done.append(self._pop())
        return self._rows(done)

    def close_all(self) -> list[dict[str, Any]]:
        """Result rows of every open session."""
        done: list[_Session] = []
        while self._top() is not None:
            done.append(self._pop())
        return self._rows(done)

    def _top(self) -> float | None:
        """End of the earliest live session.

        Heap entries are lazy: merged sessions leave entries behind (dropped
        here), and a session that grew keeps its old, earlier end (pushed
        back here with the current one). Ends only grow, so once the top
        entry is current it is the true minimum.
        """
        while self._heap:
            end, uid = self._heap[0]
            session = self._live.get(uid)
            if session is None:
                heapq.heappop(self._heap)
            elif session.last + self._spec.gap != end:
                heapq.heapreplace(self._heap, (session.last + self._spec.gap, uid))
            else:
                return end
        return None

    def _pop(self) -> _Session:
        _, uid = heapq.heappop(self._heap)
        session = self._live.pop(uid)
        remaining = [s for s in self._sessions[session.key] if s.uid != uid]
        if remaining:
            self._sessions[session.key] = remaining
        else:
            del self._sessions[session.key]
        return session

    def _rows(self, done: list[_Session]) -> list[dict[str, Any]]:
        gap = self._spec.gap
        by_end: dict[float, dict[Hashable, _Session]] = {}
        for s in done:
            by_end.setdefault(s.last + gap, {})[s.key] = s
        rows = []
        for end in sorted(by_end):
            sessions = by_end[end]
            for key in sort_keys(list(sessions)):
                s = sessions[key]
                rows.append(self._spec.result_row(key, s.start, end, s.accs))
        return rows

    def earliest_close(self) -> float | None:
        """Watermark at which the next session closes; ``None`` when none is open."""
        top = self._top()
        return None if top is None else top + self._spec.lateness

    def snapshot(self) -> dict[str, Any]:
        """Picklable state (accumulators must be picklable); a deep copy."""
        sessions = [(s.key, s.start, s.last, s.accs, s.uid) for s in self._live.values()]
        return copy.deepcopy({"sessions": sessions, "seq": self._seq, "uid": self._next_uid})

    def restore(self, state: dict[str, Any]) -> None:
        """Load :meth:`snapshot` output."""
        state = copy.deepcopy(state)
        self._seq, self._next_uid = state["seq"], state["uid"]
        for key, start, last, accs, uid in state["sessions"]:
            session = _Session(key, start, last, accs, uid)
            self._live[uid] = session
            self._sessions.setdefault(key, []).append(session)
            self._heap.append((last + self._spec.gap, uid))
        heapq.heapify(self._heap)
