"""Per-UID mutual exclusion: work on one SOP Instance UID is serialised, other UIDs run on.

Two senders storing the same instance at once must not both store it; two
different instances must not wait for each other. :class:`UidClaims` hands
out one lock per UID for as long as anyone holds or waits for it.

>>> claims = UidClaims()
>>> with claims.claim("1.2.3"):
...     len(claims)
1
>>> len(claims)
0
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["UidClaims"]


class _Claim:
    """A per-UID lock and how many threads hold or wait for it."""

    __slots__ = ("holders", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0


class UidClaims:
    """Locks by UID, created on demand and dropped once nobody needs them."""

    def __init__(self) -> None:
        self._claims: dict[str, _Claim] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._claims)

    @contextmanager
    def claim(self, uid: str) -> Iterator[None]:
        """Hold the lock of ``uid`` for the ``with`` block."""
        with self._lock:
            claim = self._claims.setdefault(uid, _Claim())
            claim.holders += 1
        try:
            with claim.lock:
                yield
        finally:
            with self._lock:
                claim.holders -= 1
                if not claim.holders:
                    del self._claims[uid]
