"""The radiology YAML: the reference example loads, and errors point at file, line and key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from streamgale.config import is_radiology_document
from streamgale.config.document import read_document
from streamgale.dicom.radiology.config import load_radiology, load_radiology_text
from streamgale.dicom.routing import Priority
from streamgale.errors import ConfigError
from tests.dicom.radiology.helpers import running
from tests.inference.onnx_models import segmenter

EXAMPLE = Path(__file__).parents[3] / "examples" / "radiology.yaml"


def test_the_reference_example_loads() -> None:
    settings = load_radiology(EXAMPLE)
    assert settings.dimse is not None
    assert (settings.dimse.ae_title, settings.dimse.port) == ("STREAMGALE", 11112)
    assert settings.stow is not None and settings.stow.port == 8090
    assert [m.name for m in settings.models] == ["demo-lesion"]
    assert [r.name for r in settings.routes] == ["chest-ct"]
    assert settings.state_dir == Path(".streamgale")  # the one default every command reads
    assert is_radiology_document(read_document(EXAMPLE))


def test_overrides_beat_the_file() -> None:
    settings = load_radiology(
        EXAMPLE, overrides={"port": 104, "ae_title": "PACSGATE", "stow_port": 9000}
    )
    assert settings.dimse is not None and settings.dimse.port == 104
    assert settings.dimse.ae_title == "PACSGATE"
    assert settings.stow is not None and settings.stow.port == 9000


def _yaml(tmp_path: Path, body: str) -> str:
    model = segmenter(tmp_path, size=16)
    return f"radiology:\n  models: [{{path: {model}}}]\n{body}"


def test_routes_destinations_and_priority(tmp_path: Path) -> None:
    text = _yaml(
        tmp_path,
        "  routes:\n"
        "    - {name: stat-ct, modalities: [CT], models: [organs], priority: stat,"
        " destinations: [pacs], quiet: 2s}\n"
        "  destinations:\n"
        "    pacs: {dimse: {port: 4242, ae_title: ORTHANC}}\n",
    )
    settings = load_radiology_text(text, "r.yaml", base_dir=tmp_path)
    [route] = settings.routes
    assert route.priority is Priority.STAT and route.quiet_seconds == 2.0
    assert route.destinations == ("pacs",)
    assert settings.destinations[0].name == "pacs"


def test_validation_limits_load_the_decoded_pixel_bound(tmp_path: Path) -> None:
    text = _yaml(tmp_path, "  validation: {max_bytes: 1000000, max_pixel_bytes: 2000000}\n")
    limits = load_radiology_text(text, "r.yaml", base_dir=tmp_path).limits
    assert (limits.max_bytes, limits.max_pixel_bytes) == (1_000_000, 2_000_000)


def test_the_stow_listener_caps_concurrent_requests(tmp_path: Path) -> None:
    text = _yaml(tmp_path, "  listeners:\n    stow: {port: 0, max_concurrent_requests: 3}\n")
    settings = load_radiology_text(text, "r.yaml", base_dir=tmp_path)
    assert settings.stow is not None and settings.stow.max_concurrent_requests == 3
    quiet = replace(settings, state_dir=tmp_path / "state", dimse=None, dashboard=None)
    with running(quiet) as service:  # the service hands it to its STOW-RS server
        assert service.stow is not None and service.stow.max_concurrent_requests == 3


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("  listen: {}\n", "r.yaml:3, key 'radiology.listen'", "unknown key 'listen'; allowed:"),
        (
            "  routes:\n    - {name: a, models: [nope]}\n",
            "r.yaml",
            "route 'a' names unknown model(s) nope; configured models: organs",
        ),
        (
            "  routes:\n    - {name: a, priority: urgent}\n",
            "r.yaml:4, key 'radiology.routes[0]'",
            "unknown priority 'urgent'; allowed: low, routine, stat",
        ),
        (
            "  routes:\n    - {name: a, destinations: [pacs]}\n",
            "r.yaml",
            "route 'a' names unknown destination(s) pacs",
        ),
        (
            "  destinations:\n    pacs: {ftp: {}}\n",
            "r.yaml:4, key 'radiology.destinations.pacs.ftp'",
            "unknown key 'ftp'; allowed: dimse, stow",
        ),
        (
            "  quiet: soon\n",
            "r.yaml:3, key 'radiology.quiet'",
            "bad duration 'soon'",
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, body: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_radiology_text(_yaml(tmp_path, body), "r.yaml", base_dir=tmp_path)
    text = str(info.value)
    assert text.startswith(where), text
    assert message in text


def test_unknown_builtin_model_lists_the_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown built-in model 'gpt'; allowed: demo-lesion"):
        load_radiology_text("radiology:\n  models: [gpt]\n", "r.yaml")


def test_deidentify_needs_its_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SG_TEST_SECRET", raising=False)
    text = _yaml(tmp_path, "  deidentify: {secret_env: SG_TEST_SECRET}\n")
    with pytest.raises(ConfigError, match="environment variable SG_TEST_SECRET is empty"):
        load_radiology_text(text, "r.yaml", base_dir=tmp_path)
    monkeypatch.setenv("SG_TEST_SECRET", "0123456789abcdef0123456789abcdef")
    settings = load_radiology_text(text, "r.yaml", base_dir=tmp_path)
    assert settings.deid is not None


def test_telemetry_lake_and_ab_routes_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKE_SECRET", "s3cr3t")
    settings = load_radiology_text(
        """
radiology:
  state_dir: state
  models: [demo-lesion, demo-lesion-sensitive]
  routes:
    - name: ct
      ab: {mode: split, a: demo-lesion, b: demo-lesion-sensitive, share: 0.2}
  telemetry:
    lake:
      url: s3://bucket/lake
      options: {endpoint_url: "http://127.0.0.1:9000", secret: {env: LAKE_SECRET}}
    traces: {otlp_endpoint: "http://127.0.0.1:4318/v1/traces"}
""",
        "x.yaml",
        base_dir=tmp_path,
    )
    assert settings.lake == "s3://bucket/lake"
    assert settings.lake_options == {"endpoint_url": "http://127.0.0.1:9000", "secret": "s3cr3t"}
    assert settings.traces_endpoint == "http://127.0.0.1:4318/v1/traces"
    [route] = settings.routes
    assert route.ab is not None and route.ab.share == 0.2
    assert route.all_models == ("demo-lesion", "demo-lesion-sensitive")
    assert [m.thresholds["lesion"] for m in settings.models] == [0.5, 0.3]


def test_an_unknown_ab_mode_points_at_its_line() -> None:
    with pytest.raises(ConfigError) as raised:
        load_radiology_text(
            "radiology:\n  routes:\n    - name: ct\n      ab: {mode: canary, a: x, b: y}\n",
            "x.yaml",
        )
    assert "canary" in str(raised.value) and "shadow, split" in str(raised.value)
    assert "x.yaml:4" in str(raised.value)


def _example_with_pacs(*, routed: bool) -> str:
    """The reference example with its commented PACS destination (and route key) turned on."""
    wanted = ["  # destinations:", "  #   pacs:"]
    if routed:
        wanted.append("      # destinations: [pacs]")
    lines = [
        line.replace("# ", "", 1) if any(line.startswith(w) for w in wanted) else line
        for line in EXAMPLE.read_text().splitlines()
    ]
    return "\n".join(lines) + "\n"


def test_a_destination_no_route_names_is_a_load_time_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="streamgale.dicom.radiology.config"):
        settings = load_radiology_text(_example_with_pacs(routed=False), "r.yaml")
    assert [d.name for d in settings.destinations] == ["pacs"]
    [warning] = caplog.messages
    assert warning.startswith("r.yaml:") and "radiology.destinations.pacs" in warning
    assert "no route names destination 'pacs'" in warning and "destinations: [pacs]" in warning


def test_the_example_shows_the_route_key_that_delivers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="streamgale.dicom.radiology.config"):
        settings = load_radiology_text(_example_with_pacs(routed=True), "r.yaml")
    assert settings.routes[0].destinations == ("pacs",)
    assert caplog.messages == []
