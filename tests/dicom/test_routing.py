"""Routing rules: each criterion, priorities, quiet times and config errors."""

from __future__ import annotations

from typing import Any

import pytest

from streamgale.dicom.routing import Priority, Route, Router
from streamgale.errors import ConfigError

CT_CHEST: dict[str, Any] = {
    "modality": "CT",
    "body_part_examined": "CHEST",
    "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
    "calling_ae": "SCANNER1",
    "series_description": "Thorax 1.0 B70f",
}


@pytest.mark.parametrize(
    ("route", "matches"),
    [
        (Route("any"), True),
        (Route("ct", modalities={"ct"}), True),
        (Route("mr", modalities={"MR"}), False),
        (Route("chest", body_parts={"CHEST", "LUNG"}), True),
        (Route("head", body_parts={"HEAD"}), False),
        (Route("ct-class", sop_class_uids={"1.2.840.10008.5.1.4.1.1.2"}), True),
        (Route("mr-class", sop_class_uids={"1.2.840.10008.5.1.4.1.1.4"}), False),
        (Route("scanner", calling_aes={"scanner1"}), True),
        (Route("other-ae", calling_aes={"PACS"}), False),
        (Route("thorax", series_description=r"thorax"), True),
        (Route("brain", series_description=r"^brain"), False),
        (
            Route(
                "all-criteria", modalities={"CT"}, body_parts={"CHEST"}, calling_aes={"SCANNER1"}
            ),
            True,
        ),
    ],
)
def test_each_criterion(route: Route, matches: bool) -> None:
    assert route.matches(CT_CHEST) is matches


def test_missing_attribute_does_not_match_a_criterion() -> None:
    assert not Route("chest", body_parts={"CHEST"}).matches({"modality": "CT"})


def test_all_matching_routes_or_first_only() -> None:
    routes = [Route("a", modalities={"CT"}), Route("b"), Route("c", modalities={"MR"})]
    assert [r.name for r in Router(routes).routes_for(CT_CHEST)] == ["a", "b"]
    assert [r.name for r in Router(routes, first_match_only=True).routes_for(CT_CHEST)] == ["a"]
    assert Router([Route("mr", modalities={"MR"})]).routes_for(CT_CHEST) == []


def test_priority_and_quiet_time_come_from_matching_routes() -> None:
    router = Router(
        [
            Route("stat-chest", body_parts={"CHEST"}, priority="stat", quiet_seconds=2),
            Route("routine", quiet_seconds=30),
        ]
    )
    assert router.priority_of(CT_CHEST) is Priority.STAT
    assert router.quiet_for(CT_CHEST) == 2
    assert router.priority_of({"modality": "MR"}) is Priority.ROUTINE
    assert router.quiet_for({"modality": "MR"}) == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"priority": "urgent"}, "unknown priority 'urgent'; allowed: low, routine, stat"),
        ({"series_description": "("}, "not a valid regular expression"),
        ({"quiet_seconds": 0}, "must be > 0 seconds"),
    ],
)
def test_bad_routes_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Route("r", **kwargs)


def test_route_names_are_unique() -> None:
    with pytest.raises(ConfigError, match="repeated: a"):
        Router([Route("a"), Route("a")])
