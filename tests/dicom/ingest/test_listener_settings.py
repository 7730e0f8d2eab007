"""The DIMSE listener's limits and timers, set in a radiology YAML file."""

from __future__ import annotations

import pytest

from streamgale.dicom.radiology.config import load_radiology_text
from streamgale.errors import ConfigError

_FILE = """
radiology:
  state_dir: /tmp/sg-listener
  listeners:
    dimse:
      ae_title: HOSPITAL_AI
      port: 11112
{extra}
  models: [demo-lesion]
  routes:
    - {{name: ct, modalities: [CT], models: [demo-lesion]}}
"""


def _load(extra: str) -> object:
    return load_radiology_text(_FILE.format(extra=extra), "r.yaml")


def test_limits_and_timers_come_from_yaml() -> None:
    settings = _load(
        "      max_associations: 4\n      idle_timeout: 45s\n      artim_timeout: 10s\n"
        "      accept_any_called_ae: true"
    )
    dimse = settings.dimse  # type: ignore[attr-defined]
    assert (dimse.max_associations, dimse.network_timeout, dimse.artim_timeout) == (4, 45, 10)
    assert dimse.accept_any_called_ae is True


def test_defaults_check_the_called_ae_and_time_out_silent_peers() -> None:
    dimse = _load("").dimse  # type: ignore[attr-defined]
    assert dimse.accept_any_called_ae is False
    assert (dimse.max_associations, dimse.network_timeout, dimse.artim_timeout) == (16, 60, 30)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("      max_associations: 0", "max_associations"),
        ("      idle_timeout: soon", "idle_timeout"),
    ],
)
def test_a_bad_limit_names_its_key_and_line(extra: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"r.yaml:\d+, key '.*{key}'"):
        _load(extra)
