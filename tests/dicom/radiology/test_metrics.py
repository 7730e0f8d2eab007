"""Radiology store metrics: what /metrics shows about quarantine, delivery and stores."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamgale.deadletter import DEAD_LETTER_FILE, DeadLetterStore
from streamgale.dicom.delivery import DeliveryManager
from streamgale.dicom.delivery.destinations import StowDestination
from streamgale.dicom.quality import QuarantineStore
from streamgale.dicom.radiology.metrics import RadiologyCollector, register_radiology_metrics
from streamgale.dicom.radiology.pipeline import RadiologySettings
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series
from streamgale.errors import ConfigError
from streamgale.inference import load_model_config
from streamgale.models import demo_model_config_path
from streamgale.service import RadiologyService

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _parse(text: str) -> tuple[dict[str, str], Samples]:
    """Family types by name, and every sample keyed by name and labels."""
    types, samples = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return types, samples


def _scrape(collector: RadiologyCollector) -> tuple[dict[str, str], Samples]:
    registry = CollectorRegistry()
    registry.register(collector)
    return _parse(generate_latest(registry).decode())


def _labels(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset({"pipeline": "radiology", **labels}.items())


def _closed_port() -> int:
    """A loopback port nothing listens on: a destination that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[QuarantineStore, DeliveryManager, Path]]:
    quarantine = QuarantineStore(tmp_path / "quarantine")
    down = StowDestination("pacs", f"http://127.0.0.1:{_closed_port()}", timeout=2.0)
    delivery = DeliveryManager(tmp_path / "delivery", [down], backoff=30.0)
    yield quarantine, delivery, tmp_path / DEAD_LETTER_FILE
    delivery.close()
    quarantine.close()


def test_store_metrics_parse_with_their_types_labels_and_values(
    stores: tuple[QuarantineStore, DeliveryManager, Path],
) -> None:
    quarantine, delivery, dead_path = stores
    kept = [
        quarantine.put(b"x", reason="unreadable", stage="validation", source="folder")
        for _ in range(3)
    ]
    quarantine.request_release([kept[0].id])
    delivery.enqueue_all([b"SR"], key="result-1")
    delivery.enqueue_all([b"SR"], key="result-2")
    assert delivery.queues["pacs"].run_once()  # the destination is down: one failed attempt
    dead = DeadLetterStore(dead_path)
    for n in range(2):
        dead.add("radiology", "prepare", n, ValueError("bad"), batch=False)
    dead.add("other-pipeline", "prepare", 9, ValueError("bad"), batch=False)
    dead.flush()
    [letter, _] = dead.list("radiology")
    dead.request_replay([letter.id])
    dead.close()
    collector = RadiologyCollector(
        "radiology",
        quarantine=quarantine,
        delivery=delivery,
        instances=[object()] * 7,
        dead_letters=dead_path,
    )

    types, samples = _scrape(collector)

    assert types["streamgale_quarantine_entries"] == "gauge"
    assert samples[("streamgale_quarantine_entries", _labels(status="quarantined"))] == 2
    assert samples[("streamgale_quarantine_entries", _labels(status="release_requested"))] == 1
    assert samples[("streamgale_quarantine_entries", _labels(status="discarded"))] == 0
    pacs = _labels(destination="pacs")
    assert samples[("streamgale_destination_backlog", pacs)] == 2
    assert samples[("streamgale_destination_failed", pacs)] == 0
    assert types["streamgale_destination_delivered"] == "counter"
    assert samples[("streamgale_destination_delivered_total", pacs)] == 0
    assert samples[("streamgale_destination_retrying", pacs)] == 1
    assert samples[("streamgale_destination_attempts", pacs)] == 1
    assert 0 < samples[("streamgale_destination_next_attempt_seconds", pacs)] <= 30
    assert samples[("streamgale_instances_stored", _labels())] == 7
    dead_new = _labels(step="prepare", status="new")
    assert samples[("streamgale_dead_letters_stored", dead_new)] == 1
    dead_replay = _labels(step="prepare", status="replay")
    assert samples[("streamgale_dead_letters_stored", dead_replay)] == 1
    assert not any(name == "streamgale_results_total" for name, _ in samples)  # no store given


def test_readings_are_cached_for_cache_seconds(
    stores: tuple[QuarantineStore, DeliveryManager, Path],
) -> None:
    quarantine, _, _ = stores
    now = [100.0]
    collector = RadiologyCollector(
        "radiology", quarantine=quarantine, cache_seconds=5.0, clock=lambda: now[0]
    )
    key = ("streamgale_quarantine_entries", _labels(status="quarantined"))
    assert _scrape(collector)[1][key] == 0
    quarantine.put(b"x", reason="unreadable", stage="validation", source="folder")
    now[0] += 4.9
    assert _scrape(collector)[1][key] == 0
    now[0] += 0.1
    assert _scrape(collector)[1][key] == 1


def test_a_closed_store_is_left_out_and_the_scrape_still_works(
    stores: tuple[QuarantineStore, DeliveryManager, Path],
) -> None:
    quarantine, delivery, _ = stores
    collector = RadiologyCollector(
        "radiology", quarantine=quarantine, delivery=delivery, cache_seconds=0
    )
    quarantine.close()
    types, samples = _scrape(collector)
    assert "streamgale_quarantine_entries" not in types
    assert samples[("streamgale_destination_backlog", _labels(destination="pacs"))] == 0


def _settings(tmp_path: Path, **overrides: object) -> RadiologySettings:
    options: dict[str, object] = {
        "state_dir": tmp_path / "state",
        "models": (load_model_config(demo_model_config_path()),),
        "routes": (
            Route("ct", modalities={"CT"}, models=("demo-lesion",), destinations=("pacs",)),
        ),
        "destinations": (
            StowDestination("pacs", f"http://127.0.0.1:{_closed_port()}", timeout=2.0),
        ),
        "dimse": None,
        "stow": None,
        "quiet_seconds": 0.3,
        "checkpoint_interval": 0.2,
        **overrides,
    }
    return RadiologySettings(**options)  # type: ignore[arg-type]


def test_registering_twice_is_a_config_error(tmp_path: Path) -> None:
    app = RadiologyService(_settings(tmp_path))  # registers its own collector
    try:
        with pytest.raises(ConfigError, match="once per app"):
            register_radiology_metrics(app)
    finally:
        app.close()


def _wait(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_after_a_real_run_metrics_show_quarantine_backlog_and_steps(tmp_path: Path) -> None:
    app = RadiologyService(_settings(tmp_path, metrics_port=0))
    app.metrics._cache_seconds = 0  # read the stores on every scrape
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        assert app.ready.wait(60)
        series = ct_series(slices=3, size=64, seed=11)
        series[1].Rows = 3  # pixel data no longer matches: quarantined at validation
        for ds in series:
            path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
            ds.save_as(path, enforce_file_format=True)
            app.store.put(path.read_bytes(), source="folder")
        _wait(lambda: app.summaries, "the study's result")
        assert app.delivery is not None
        _wait(lambda: app.delivery.state()["pacs"]["attempts"] >= 1, "a failed delivery")
        server = app.runtime.metrics.server
        assert server is not None
        body = urllib.request.urlopen(server.url, timeout=10).read().decode()
    finally:
        app.stop()
        thread.join(60)

    types, samples = _parse(body)
    assert samples[("streamgale_quarantine_entries", _labels(status="quarantined"))] == 1
    pacs = _labels(destination="pacs")
    assert samples[("streamgale_destination_backlog", pacs)] == 1
    assert samples[("streamgale_destination_retrying", pacs)] == 1
    assert samples[("streamgale_destination_attempts", pacs)] >= 1
    assert samples[("streamgale_results_total", _labels())] == 1
    assert samples[("streamgale_instances_stored", _labels())] == 3
    assert types["streamgale_dead_letters_stored"] == "gauge"
    # The runtime's own families are in the same exposition.
    assert samples[("streamgale_step_records_in_total", _labels(step="prepare"))] >= 3
    assert types["streamgale_step_batch_seconds"] == "histogram"
    assert types["streamgale_channel_depth"] == "gauge"
    assert types["streamgale_end_to_end_seconds"] == "histogram"
