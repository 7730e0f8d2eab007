"""Routing: which models and destinations an instance goes to.

A route matches instances by Modality (0008,0060), Body Part Examined
(0018,0015), SOP Class UID (0008,0016), the sender's calling AE title, and a
regular expression on Series Description (0008,103E). A route names the
models to run, the destinations for the results, whether to de-identify,
the study quiet time, and a priority: ``STAT`` work overtakes ``ROUTINE``
work when the system is loaded.

Routes are tried in order; an instance takes every route that matches
(``first_match_only`` keeps just the first). An instance no route matches
is not silently dropped: :meth:`Router.routes_for` returns nothing and the
pipeline records it as unrouted.

>>> router = Router([
...     Route("chest-ct", modalities={"CT"}, body_parts={"CHEST"}, models=("demo-lesion",),
...           priority=Priority.STAT),
...     Route("everything-else", models=()),
... ], first_match_only=True)
>>> [r.name for r in router.routes_for({"modality": "CT", "body_part_examined": "CHEST"})]
['chest-ct']
>>> [r.name for r in router.routes_for({"modality": "MR"})]
['everything-else']
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamgale.errors import ConfigError

__all__ = ["Priority", "Route", "Router"]


class Priority(enum.IntEnum):
    """Higher runs first when work queues up (PS3.4 C-STORE Priority has the same idea)."""

    LOW = 0
    ROUTINE = 1
    STAT = 2

    @classmethod
    def parse(cls, value: Priority | str | int) -> Priority:
        """Accept the enum, its name in any case, or its number; convert once."""
        if isinstance(value, Priority):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        if isinstance(value, int) and value in {p.value for p in cls}:
            return cls(value)
        raise ConfigError(
            f"unknown priority {value!r}; allowed: {', '.join(p.name.lower() for p in cls)}",
            key="priority",
        )


def _upper_set(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(v.strip().upper() for v in values)


@dataclass(frozen=True)
class Route:
    """One routing rule; an empty (None) criterion matches anything."""

    name: str
    modalities: frozenset[str] | None = None
    body_parts: frozenset[str] | None = None
    sop_class_uids: frozenset[str] | None = None
    calling_aes: frozenset[str] | None = None
    series_description: str | None = None
    """A regular expression searched (case-insensitive) in Series Description."""
    models: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    deidentify: bool = False
    quiet_seconds: float | None = None
    priority: Priority = Priority.ROUTINE
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "modalities", _upper_set(self.modalities))
        set_(self, "body_parts", _upper_set(self.body_parts))
        set_(self, "calling_aes", _upper_set(self.calling_aes))
        if self.sop_class_uids is not None:
            set_(self, "sop_class_uids", frozenset(self.sop_class_uids))
        set_(self, "models", tuple(self.models))
        set_(self, "destinations", tuple(self.destinations))
        set_(self, "priority", Priority.parse(self.priority))
        if self.series_description is not None:
            try:
                set_(self, "_pattern", re.compile(self.series_description, re.IGNORECASE))
            except re.error as exc:
                raise ConfigError(
                    f"route '{self.name}': series_description is not a valid regular "
                    f"expression: {exc}",
                    key="series_description",
                ) from exc
        if self.quiet_seconds is not None and self.quiet_seconds <= 0:
            raise ConfigError(
                f"route '{self.name}': must be > 0 seconds; got {self.quiet_seconds!r}",
                key="quiet_seconds",
            )

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether an instance event (``streamgale.dicom.ingest.events``) matches."""
        return (
            _in(self.modalities, event.get("modality"))
            and _in(self.body_parts, event.get("body_part_examined"))
            and _in(self.calling_aes, event.get("calling_ae"))
            and (self.sop_class_uids is None or event.get("sop_class_uid") in self.sop_class_uids)
            and (
                self._pattern is None
                or bool(self._pattern.search(str(event.get("series_description") or "")))
            )
        )


def _in(allowed: frozenset[str] | None, value: object) -> bool:
    return allowed is None or (isinstance(value, str) and value.strip().upper() in allowed)


class Router:
    """Routes in order; see the module docstring."""

    def __init__(self, routes: Sequence[Route], *, first_match_only: bool = False) -> None:
        names = [r.name for r in routes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"route names must be unique; repeated: {', '.join(duplicates)}")
        self.routes = tuple(routes)
        self.first_match_only = first_match_only

    def routes_for(self, event: Mapping[str, Any]) -> list[Route]:
        matched = [r for r in self.routes if r.matches(event)]
        return matched[:1] if self.first_match_only else matched

    def quiet_for(self, event: Mapping[str, Any]) -> float | None:
        """The shortest quiet time among matching routes (for study assembly)."""
        times = [r.quiet_seconds for r in self.routes_for(event) if r.quiet_seconds]
        return min(times) if times else None

    def priority_of(self, event: Mapping[str, Any]) -> Priority:
        """The highest priority among matching routes."""
        return max((r.priority for r in self.routes_for(event)), default=Priority.ROUTINE)
