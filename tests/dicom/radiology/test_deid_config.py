"""De-identifying routes are refused at load time when nothing says how to de-identify."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgale.dicom.radiology.config import load_radiology_text
from streamgale.dicom.radiology.pipeline import RadiologySettings
from streamgale.dicom.routing import Route
from streamgale.errors import ConfigError


def test_a_deidentifying_route_without_deidentify_settings_names_file_line_and_key(
    tmp_path: Path,
) -> None:
    text = (
        "radiology:\n"
        "  models: [demo-lesion]\n"
        "  routes:\n"
        "    - {name: plain, models: [demo-lesion]}\n"
        "    - name: research\n"
        "      models: [demo-lesion]\n"
        "      deidentify: true\n"
    )
    with pytest.raises(ConfigError) as info:
        load_radiology_text(text, "r.yaml", base_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("r.yaml:7, key 'radiology.routes[1].deidentify'"), message
    assert "radiology.deidentify" in message


def test_a_route_that_does_not_deidentify_needs_no_settings(tmp_path: Path) -> None:
    text = (
        "radiology:\n"
        "  models: [demo-lesion]\n"
        "  routes: [{name: plain, models: [demo-lesion], deidentify: false}]\n"
    )
    settings = load_radiology_text(text, "r.yaml", base_dir=tmp_path)
    assert settings.deid is None and not settings.routes[0].deidentify


def test_settings_built_in_code_refuse_it_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="route 'research' de-identifies"):
        RadiologySettings(
            state_dir=tmp_path, models=(), routes=(Route("research", deidentify=True),)
        )


EXAMPLE = Path(__file__).parents[3] / "examples" / "radiology.yaml"


def test_the_example_shows_a_deidentifying_export_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commented research route, its destination and the deidentify settings,
    turned on as a user would, load: the route exports de-identified instances."""
    monkeypatch.setenv("STREAMGALE_DEID_SECRET", "0123456789abcdef0123456789abcdef")
    starts = (
        "    # - name: research",
        "    #   ",
        "  # destinations:",
        "  #   research:",
        "  # deidentify:",
        "  #   secret_env:",
        "  #   options:",
    )
    lines = [
        line.replace("# ", "", 1) if line.startswith(starts) else line
        for line in EXAMPLE.read_text().splitlines()
    ]
    settings = load_radiology_text("\n".join(lines) + "\n", "r.yaml")
    [research] = [r for r in settings.routes if r.name == "research"]
    assert research.deidentify and research.export == ("research",) and not research.models
    assert settings.deid is not None
    assert [d.name for d in settings.destinations] == ["research"]
