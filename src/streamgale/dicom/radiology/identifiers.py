"""Which UIDs the lake may hold: pseudonyms for work on de-identifying routes.

The lake may live in a shared bucket, read by people who must not learn
which patient a study was. For an instance that takes a de-identifying
route, every telemetry, inference and result row names its study, series
and instance by the same pseudonymised UIDs that the de-identified
instances and results carry (``2.25.<HMAC>``, :mod:`streamgale.dicom.deid`),
so rows still join with what the research side received, and never with
the original.

>>> from streamgale.dicom.deid import DeidConfig
>>> from streamgale.dicom.routing import Route, Router
>>> router = Router([Route("research", modalities={"CT"}, deidentify=True),
...                  Route("clinical", modalities={"MR"})])
>>> ids = LakeIdentifiers(router, DeidConfig(secret=bytes(16)))
>>> ids.uid(ids.deidentifies({"level": "instance", "modality": "CT"}), "1.2.3")[:5]
'2.25.'
>>> ids.uid(ids.deidentifies({"level": "instance", "modality": "MR"}), "1.2.3")
'1.2.3'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from streamgale.dicom.deid import DeidConfig, Pseudonymizer
from streamgale.dicom.routing import Router

__all__ = ["LakeIdentifiers"]


class LakeIdentifiers:
    """Decides, per record, whether its UIDs go to the lake as pseudonyms."""

    def __init__(self, router: Router, deid: DeidConfig | None) -> None:
        self._router = router
        self._deidentifying = frozenset(r.name for r in router.routes if r.deidentify)
        self._pseudonyms = (
            Pseudonymizer(deid.secret, prefix=deid.pseudonym_prefix) if deid is not None else None
        )

    def deidentifies(self, event: Mapping[str, Any]) -> bool:
        """Whether an assembly event (instance, series or study) is on a de-identifying
        route: for a series or study, whether any of its instances is."""
        if not self._deidentifying:
            return False
        level = event.get("level")
        if level == "study":
            return any(self.deidentifies(series) for series in event.get("series") or ())
        if level == "series":
            instances = event.get("instances") or ()
            return any(self.deidentifies({**i, "level": "instance"}) for i in instances)
        return any(r.deidentify for r in self._router.routes_for(event))

    def of_routes(self, routes: Iterable[object]) -> bool:
        """Whether any of the named routes de-identifies."""
        return any(str(route) in self._deidentifying for route in routes)

    def uid(self, deidentified: bool, value: Any) -> Any:
        """``value`` as the lake may hold it: its pseudonym when ``deidentified``."""
        if not deidentified or self._pseudonyms is None or not value:
            return value
        return self._pseudonyms.uid(str(value))

    def ids(
        self, deidentified: bool, study: Any, series: Any = None, instance: Any = None
    ) -> dict[str, Any]:
        """The ``study_uid``, ``series_uid`` and ``instance_uid`` columns of a row."""
        return {
            "study_uid": self.uid(deidentified, study),
            "series_uid": self.uid(deidentified, series),
            "instance_uid": self.uid(deidentified, instance),
        }
