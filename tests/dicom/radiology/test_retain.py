"""How long finished studies are remembered for late series is set in YAML (retain_finished)."""

from __future__ import annotations

import pytest

from streamgale.dicom.radiology.config import load_radiology_text
from streamgale.errors import ConfigError

_DOC = """
radiology:
  state_dir: /tmp/sg-retain
  models: [demo-lesion]
  routes:
    - {{name: ct, modalities: [CT], models: [demo-lesion]}}
{extra}
"""


def test_retain_finished_is_read_as_a_duration() -> None:
    settings = load_radiology_text(_DOC.format(extra="  retain_finished: 2h"), "r.yaml")
    assert settings.retain_finished == 7200.0


def test_retain_finished_defaults_to_an_hour() -> None:
    assert load_radiology_text(_DOC.format(extra=""), "r.yaml").retain_finished == 3600.0


def test_a_bad_retain_finished_names_the_key() -> None:
    with pytest.raises(ConfigError, match="retain_finished"):
        load_radiology_text(_DOC.format(extra="  retain_finished: soon"), "r.yaml")
