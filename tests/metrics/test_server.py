"""The metrics server over real HTTP on loopback, on a port chosen by the OS."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from streamgale.metrics import MetricsServer, PipelineMetrics


@pytest.fixture
def served() -> Iterator[tuple[PipelineMetrics, MetricsServer]]:
    metrics = PipelineMetrics("web")
    with MetricsServer(metrics, host="127.0.0.1", port=0) as server:
        yield metrics, server


def test_metrics_are_served_over_http_and_parse(
    served: tuple[PipelineMetrics, MetricsServer],
) -> None:
    metrics, server = served
    metrics.step("parse").record(n_in=3, n_out=2, seconds=0.001)
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    with urllib.request.urlopen(server.url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        body = response.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(body)}
    [sample] = families["streamgale_step_records_out"].samples
    assert sample.labels == {"pipeline": "web", "step": "parse"}
    assert sample.value == 2


def test_scrapes_see_updates_between_them(
    served: tuple[PipelineMetrics, MetricsServer],
) -> None:
    metrics, server = served
    step = metrics.step("s")
    seen = []
    for _ in range(2):
        step.record(5, 5, 0.001)
        body = urllib.request.urlopen(server.url, timeout=5).read().decode()
        [family] = [f for f in text_string_to_metric_families(body) if f.name.endswith("in")]
        seen.append(family.samples[0].value)
    assert seen == [5, 10]


def test_other_paths_are_404_with_a_hint(served: tuple[PipelineMetrics, MetricsServer]) -> None:
    _, server = served
    base = f"http://127.0.0.1:{server.port}"
    for path in ("/", "/metricsx", "/favicon.ico"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + path, timeout=5)
        assert info.value.code == 404
        assert b"/metrics" in info.value.read()


def test_a_query_string_still_serves_metrics(
    served: tuple[PipelineMetrics, MetricsServer],
) -> None:
    _, server = served
    with urllib.request.urlopen(server.url + "?name[]=x", timeout=5) as response:
        assert response.status == 200


def test_close_frees_the_port_and_is_idempotent() -> None:
    server = MetricsServer(PipelineMetrics("p"))
    url = server.url
    server.close()
    server.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)
