"""The real OTLP/HTTP exporter posts protobuf traces to a collector on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from streamgale.connectors.base import BuildContext
from streamgale.tracing import TraceSink
from tests.tracing.helpers import STUDY_A, study_rows, trace_id


class _Collector(ThreadingHTTPServer):
    """Records every POST as (path, content type, body) and answers as a collector would."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[tuple[str, str, bytes]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posts.append((self.path, self.headers.get("Content-Type", ""), body))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_study_arrives_at_the_collector_as_one_protobuf_trace(
    collector: _Collector, tmp_path: Path
) -> None:
    rows = study_rows(STUDY_A, 100.0, instances=2)
    sink = TraceSink(
        f"http://127.0.0.1:{collector.server_address[1]}",
        service_name="radiology-test",
        settle_seconds=0,
    )
    part = sink.build_part(BuildContext("traces", tmp_path), "0", None)
    part.write_batch(rows)
    part.close()  # exports what is queued before returning

    assert collector.posts, "the exporter posted nothing"
    paths = {path for path, _, _ in collector.posts}
    assert paths == {"/v1/traces"}
    assert all(kind == "application/x-protobuf" for _, kind, _ in collector.posts)
    spans = []
    for _, _, body in collector.posts:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                "service.name"
            ]
            assert service == "radiology-test"
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    assert sorted(s.name for s in spans) == sorted(["study", *(r["stage"] for r in rows)])
    assert {int.from_bytes(s.trace_id, "big") for s in spans} == {trace_id(STUDY_A)}
    [root] = [s for s in spans if not s.parent_span_id]
    assert {s.parent_span_id for s in spans if s is not root} == {root.span_id}
