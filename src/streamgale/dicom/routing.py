"""Routing: which models and destinations an instance goes to.

A route matches instances by Modality (0008,0060), Body Part Examined
(0018,0015), SOP Class UID (0008,0016), the sender's calling AE title, and a
regular expression on Series Description (0008,103E). A route names the
models to run, the destinations for the results, the destinations the
instances themselves are exported to, whether to de-identify, the study
quiet time, and a priority: ``STAT`` work overtakes ``ROUTINE`` work when
the system is loaded.

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
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamgale.errors import ConfigError

__all__ = ["ABMode", "ABTest", "Priority", "Route", "Router"]


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


class ABMode(enum.StrEnum):
    """How a route compares two models: ``shadow`` runs both on every study and
    delivers only A's results; ``split`` sends a share of the studies to B."""

    SHADOW = "shadow"
    SPLIT = "split"

    @classmethod
    def parse(cls, value: ABMode | str) -> ABMode:
        """Accept the enum or its value; anything else is a :class:`ConfigError`."""
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(
                f"unknown A/B mode {value!r}; allowed: {', '.join(m.value for m in cls)}",
                key="mode",
            ) from None


@dataclass(frozen=True)
class ABTest:
    """Model ``a`` (the incumbent) against model ``b`` (the candidate) on one route.

    In ``split`` mode a study goes to B when a hash of its Study Instance UID
    falls under ``share``, so every instance of a study, and every re-send of
    it, sees the same model.

    >>> test = ABTest("demo-lesion", "demo-lesion-v2", mode=ABMode.SPLIT, share=0.5)
    >>> sorted({test.models_for(f"1.2.{i}")[0] for i in range(40)})
    ['demo-lesion', 'demo-lesion-v2']
    >>> ABTest("a", "b").models_for("1.2.3"), ABTest("a", "b").delivers("b")
    (('a', 'b'), False)
    """

    a: str
    b: str
    mode: ABMode = ABMode.SHADOW
    share: float = 0.5
    """Split mode: the fraction of studies that go to B."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", ABMode.parse(self.mode))
        if self.a == self.b:
            raise ConfigError(f"an A/B test needs two different models; got {self.a!r} twice")
        if not 0.0 <= self.share <= 1.0:
            raise ConfigError(f"A/B share must be between 0 and 1; got {self.share!r}", key="share")

    def models_for(self, study_instance_uid: str) -> tuple[str, ...]:
        """The model(s) a study's instances run through."""
        if self.mode is ABMode.SHADOW:
            return (self.a, self.b)
        digest = hashlib.sha256(study_instance_uid.encode()).digest()
        return (self.b,) if int.from_bytes(digest[:8]) / 2.0**64 < self.share else (self.a,)

    def variant(self, model: str) -> str | None:
        """``"a"``, ``"b"``, or None for a model outside the test."""
        return "a" if model == self.a else "b" if model == self.b else None

    def delivers(self, model: str) -> bool:
        """Whether results of ``model`` go to the route's destinations (not a shadow's)."""
        return not (self.mode is ABMode.SHADOW and model == self.b)


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
    """Where the results (SR, SEG) of this route's models go."""
    export: tuple[str, ...] = ()
    """Where the instances themselves go (de-identified when any of their routes
    de-identifies): a research PACS fed by a ``deidentify`` route, or a plain
    forward. A route with ``export`` and no models takes objects without pixels
    (SR, ECG) too."""
    deidentify: bool = False
    quiet_seconds: float | None = None
    priority: Priority = Priority.ROUTINE
    ab: ABTest | None = None
    """Compare two models on this route (they run in addition to ``models``)."""
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
        set_(self, "export", tuple(self.export))
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

    @property
    def all_models(self) -> tuple[str, ...]:
        """Every model this route may run, A/B arms included."""
        extra = (self.ab.a, self.ab.b) if self.ab else ()
        return tuple(dict.fromkeys((*self.models, *extra)))

    def models_for(self, study_instance_uid: str) -> tuple[str, ...]:
        """The models an instance of this study runs through on this route."""
        chosen = self.ab.models_for(study_instance_uid) if self.ab else ()
        return tuple(dict.fromkeys((*self.models, *chosen)))

    def variant(self, model: str) -> str | None:
        """The A/B arm ``model`` is on this route, or None."""
        return self.ab.variant(model) if self.ab else None

    def delivers(self, model: str) -> bool:
        """Whether this route sends ``model``'s results to its destinations."""
        return self.ab.delivers(model) if self.ab else True

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
        self._by_name = {r.name: r for r in self.routes}

    def variant(self, route: str, model: str) -> str | None:
        """The A/B arm of ``model`` on the route named ``route``, or None."""
        found = self._by_name.get(route)
        return found.variant(model) if found else None

    def delivers(self, route: str, model: str) -> bool:
        """Whether the route named ``route`` delivers ``model``'s results."""
        found = self._by_name.get(route)
        return found.delivers(model) if found else True

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
