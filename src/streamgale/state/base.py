"""The state-store interface: where consistent snapshots live.

A :class:`Snapshot` holds, for one checkpoint *epoch*, the state of every
stateful step, the position of every source partition and the position of
every sink partition. Because all of it is written in one atomic
:meth:`StateStore.save`, state and offsets can never disagree after a crash:
a restart resumes from one epoch or the one before, never a mix.

:mod:`streamgale.state.memory` and :mod:`streamgale.state.file` implement the
interface; ``tests/state`` runs the same contract tests against both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Snapshot", "StateStore"]


@dataclass(frozen=True)
class Snapshot:
    """Everything needed to resume a pipeline, as of one checkpoint.

    Keys of ``sources`` and ``sinks`` are ``"<step_id>/<partition>"``; keys of
    ``steps`` are step ids. ``channels`` holds what was still queued between
    steps, keyed ``"<step_id>/<input port>"`` of the step reading it. Values
    must be picklable.
    """

    epoch: int
    sources: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)
    sinks: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, list[Any]] = field(default_factory=dict)

    def queued(self, key: str) -> list[Any]:
        """The items saved for one channel (none in snapshots older than channels)."""
        return list(self.__dict__.get("channels", {}).get(key, ()))


class StateStore(ABC):
    """Keeps the latest snapshot of one pipeline."""

    @abstractmethod
    def save(self, snapshot: Snapshot) -> None:
        """Atomically replace the stored snapshot; durable on return."""

    @abstractmethod
    def load(self) -> Snapshot | None:
        """The latest saved snapshot, or None if there is none."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
