"""Destination configurations are validated when they are made."""

from __future__ import annotations

import pytest

from streamgale.dicom.delivery import DimseDestination, StowDestination
from streamgale.errors import ConfigError


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "destination name"),
        ({"name": "../escape"}, "destination name"),
        ({"port": 0}, "port must be 1 to 65535"),
        ({"port": "104"}, "port must be an integer"),
        ({"ae_title": "A" * 17}, "ae_title must be 1 to 16"),
        ({"ae_title": "   "}, "ae_title must be 1 to 16"),
        ({"calling_ae": "BAD\\AE"}, "calling_ae must be 1 to 16"),
        ({"host": ""}, "host must not be empty"),
        ({"timeout": 0}, "timeout must be a positive"),
    ],
)
def test_dimse_destination_validation(kwargs: dict[str, object], message: str) -> None:
    config: dict[str, object] = {"name": "pacs", "host": "h", "port": 104, "ae_title": "PACS"}
    config.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        DimseDestination(**config)  # type: ignore[arg-type]


def test_destinations_are_frozen_and_hashable() -> None:
    pacs = DimseDestination("pacs", "10.0.0.1", 104, "PACS")
    assert pacs == DimseDestination("pacs", "10.0.0.1", 104, "PACS")
    assert len({pacs, StowDestination("web", "https://pacs/dicom-web")}) == 2
    with pytest.raises(AttributeError):
        pacs.port = 11112  # type: ignore[misc]
    with pytest.raises(ConfigError, match="url must start with http"):
        StowDestination("web", "pacs/dicom-web")
