"""A running pipeline serves its Prometheus metrics; they parse and count."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from streamgale import Pipeline, Runtime, RuntimeConfig
from streamgale.testing import TestingSink, TestingSource


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_metrics_endpoint_counts_records_per_step() -> None:
    out: list[Any] = []
    gate = threading.Event()

    def wait_for_scrape(x: int) -> int:
        if x == 999:
            gate.wait(10)
        return x

    p = Pipeline("metered")
    p.source("in", TestingSource(list(range(1000)), batch_size=100)).map(
        "gate", wait_for_scrape
    ).filter("even", lambda x: x % 2 == 0).sink("out", TestingSink(out))
    runtime = Runtime(p, RuntimeConfig(metrics_port=0, handle_signals=False))
    samples: dict[Any, float] = {}

    def scrape() -> None:
        assert runtime.metrics.server is not None
        samples.update(_samples(runtime.metrics.server.url))
        gate.set()

    threading.Timer(0.5, scrape).start()
    runtime.run()
    assert out == list(range(0, 1000, 2))
    step = (("pipeline", "metered"), ("step", "even"))
    assert samples[("streamgale_step_records_in_total", step)] == 900
    assert samples[("streamgale_step_records_out_total", step)] == 450
    assert ("streamgale_step_batch_seconds_count", step) in samples
