"""TraceSink with an in-memory exporter: one trace per study, one span per stage."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from streamgale import Pipeline
from streamgale.connectors.base import BuildContext
from streamgale.errors import ConfigError, MissingExtraError
from streamgale.runtime.logic import ManualClock
from streamgale.testing import TestingSource
from streamgale.tracing import TraceSink, TraceSinkPartition, root_span_id_of
from tests.tracing.helpers import STUDY_A, STUDY_B, by_trace, roots, row, study_rows, trace_id

NS = 1_000_000_000


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


def _part(
    exporter: InMemorySpanExporter, tmp_path: Path, resume: Any = None, **options: Any
) -> TraceSinkPartition:
    sink = TraceSink(exporter=exporter, **options)
    return sink.build_part(BuildContext("traces", tmp_path), "0", resume)


def test_each_stage_is_a_child_span_of_the_study_root(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    rows = study_rows(STUDY_A, 100.0, instances=2)
    part = _part(spans, tmp_path, settle_seconds=0)
    part.write_batch(rows)
    part.close()
    written = spans.get_finished_spans()
    assert len(written) == len(rows) + 1 == part.spans_written
    [root] = roots(written)
    assert root.name == "study"
    assert root.context.trace_id == trace_id(STUDY_A)
    assert root.context.span_id == root_span_id_of(STUDY_A)
    children = [s for s in written if s is not root]
    assert sorted(s.name for s in children) == sorted(r["stage"] for r in rows)
    assert {s.parent.span_id for s in children} == {root.context.span_id}
    assert {s.context.trace_id for s in children} == {trace_id(STUDY_A)}
    assert len({s.context.span_id for s in written}) == len(written)
    assert root.attributes["dicom.study_instance_uid"] == STUDY_A
    assert root.attributes["streamgale.instances"] == 2
    assert list(root.attributes["streamgale.models"]) == ["demo"]
    assert root.status.status_code is StatusCode.UNSET


def test_span_times_come_from_ts_and_duration(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    rows = study_rows(STUDY_A, 100.0, instances=1)
    part = _part(spans, tmp_path, settle_seconds=0)
    part.write_batch(rows)
    part.close()
    written = spans.get_finished_spans()
    [root] = roots(written)
    inferred = next(s for s in written if s.name == "inferred")
    assert inferred.end_time == int(100.5 * NS)
    assert inferred.start_time == int(100.5 * NS) - 40_000_000
    # The root spans from the first arrival (ts - since_received) to the last stage.
    assert root.start_time == int(100.0 * NS) - 10_000_000
    assert root.end_time == int(102.0 * NS)
    assert all(root.start_time <= s.start_time and s.end_time <= root.end_time for s in written)


def test_stage_attributes_are_namespaced_and_nothing_else_leaks(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    leaky = row(
        "inferred",
        5.0,
        study_uid=STUDY_A,
        series_uid="1.2.3",
        instance_uid="1.2.3.4",
        model="demo",
        route="chest",
        size_bytes=1024,
        duration_ms=3.0,
    )
    leaky["patient_name"] = "Doe^Jane"
    part = _part(spans, tmp_path, quiet_seconds=1, clock=(clock := ManualClock(0.0)))
    part.write_batch([leaky])
    clock.advance(1.0)
    part.flush()
    part.close()
    [span] = [s for s in spans.get_finished_spans() if s.parent is not None]
    attributes = dict(span.attributes)
    assert attributes["dicom.study_instance_uid"] == STUDY_A
    assert attributes["dicom.series_instance_uid"] == "1.2.3"
    assert attributes["dicom.sop_instance_uid"] == "1.2.3.4"
    assert attributes["streamgale.model"] == "demo"
    assert attributes["streamgale.route"] == "chest"
    assert attributes["streamgale.size_bytes"] == 1024
    assert attributes["streamgale.step"] == "prepare"
    every_value = [str(v) for s in spans.get_finished_spans() for v in s.attributes.values()]
    assert not any("Doe" in v for v in every_value)


def test_a_study_split_over_batches_and_interleaved_keeps_one_trace(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    a, b = study_rows(STUDY_A, 10.0), study_rows(STUDY_B, 11.0)
    part = _part(spans, tmp_path, settle_seconds=0)
    part.write_batch(a[:2] + b[:3])
    part.write_batch([{"table": "inferences", "ts": 10.0, "study_uid": STUDY_A}])
    part.write_batch(a[2:4])
    part.write_batch(b[3:] + a[4:])
    part.close()
    written = spans.get_finished_spans()
    for study, rows in ((STUDY_A, a), (STUDY_B, b)):
        trace = by_trace(written, study)
        assert len(trace) == len(rows) + 1
        assert len(roots(trace)) == 1
    assert len(written) == len(a) + len(b) + 2  # the inferences row made no span


def test_failed_and_quarantined_stages_have_error_status(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    rows = [
        row("validated", 1.0, study_uid=STUDY_A, instance_uid="1.1"),
        row(
            "quarantined",
            1.5,
            study_uid=STUDY_A,
            instance_uid="1.2",
            outcome="quarantined",
            reason="Rows 3 does not match the pixel data",
        ),
        row("finalized", 3.0, level="study", step="finalize", study_uid=STUDY_A),
    ]
    part = _part(spans, tmp_path, settle_seconds=0)
    part.write_batch(rows)
    part.close()
    written = {s.name: s for s in spans.get_finished_spans()}
    quarantined = written["quarantined"]
    assert quarantined.status.status_code is StatusCode.ERROR
    assert "Rows 3 does not match" in (quarantined.status.description or "")
    assert quarantined.attributes["streamgale.outcome"] == "quarantined"
    assert written["validated"].status.status_code is StatusCode.UNSET
    assert written["study"].status.status_code is StatusCode.ERROR
    assert written["study"].attributes["streamgale.problems"] == 1


def test_a_late_delivery_joins_the_written_trace_without_a_second_root(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    clock = ManualClock(0.0)
    part = _part(spans, tmp_path, settle_seconds=2.0, clock=clock)
    part.write_batch(study_rows(STUDY_A, 10.0))
    clock.advance(2.0)
    part.flush()
    assert part.buffered == 0
    clock.advance(60.0)
    delivered = row("delivered", 70.0, level="study", step="deliver-pacs", study_uid=STUDY_A)
    part.write_batch([delivered])
    clock.advance(2.0)
    part.flush()
    part.close()
    trace = by_trace(spans.get_finished_spans(), STUDY_A)
    [root] = roots(trace)
    [late] = [s for s in trace if s.name == "delivered"]
    assert late.parent.span_id == root.context.span_id


def test_an_unfinished_study_is_written_after_the_quiet_time(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    clock = ManualClock(0.0)
    part = _part(spans, tmp_path, quiet_seconds=30.0, clock=clock)
    part.write_batch(study_rows(STUDY_A, 10.0)[:2])
    clock.advance(29.0)
    part.flush()
    assert part.buffered == 2 and part.spans_written == 0
    clock.advance(1.0)
    part.flush()
    assert part.buffered == 0 and part.spans_written == 3
    part.close()
    assert len(spans.get_finished_spans()) == 3


def test_open_studies_resume_from_the_snapshot(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    rows = study_rows(STUDY_A, 10.0)
    first = _part(spans, tmp_path, settle_seconds=0)
    first.write_batch(rows[:3])
    state = pickle.loads(pickle.dumps(first.snapshot()))
    first.close()
    assert spans.get_finished_spans() == ()
    second = _part(spans, tmp_path, resume=state, settle_seconds=0)
    second.write_batch(rows[3:])
    second.close()
    trace = by_trace(spans.get_finished_spans(), STUDY_A)
    assert len(trace) == len(rows) + 1 and len(roots(trace)) == 1


def test_in_a_pipeline_a_study_spans_two_runs(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    rows = study_rows(STUDY_A, 10.0)

    def run() -> None:
        p = Pipeline("traces")
        source = TestingSource([*rows[:3], TestingSource.EOF, *rows[3:]], batch_size=2)
        p.source("telemetry", source).sink("traces", TraceSink(exporter=spans, settle_seconds=0))
        p.run(state_dir=tmp_path / "state")

    run()
    assert spans.get_finished_spans() == ()  # the study is open: its rows are in the checkpoint
    run()
    trace = by_trace(spans.get_finished_spans(), STUDY_A)
    assert len(trace) == len(rows) + 1 and len(roots(trace)) == 1


def test_a_row_without_a_study_or_instance_is_a_trace_of_its_own(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    part = _part(spans, tmp_path)
    part.write_batch([row("received", 1.0, level="study"), row("received", 2.0, level="study")])
    part.close()
    written = spans.get_finished_spans()
    assert len(written) == 2 and len({s.context.trace_id for s in written}) == 2
    assert all(s.parent is None for s in written)


def test_a_row_without_a_usable_ts_is_skipped(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    part = _part(spans, tmp_path, settle_seconds=0)
    bad = row("validated", 0.0, study_uid=STUDY_A)
    bad["ts"] = "yesterday"
    part.write_batch([bad, row("finalized", 2.0, level="study", study_uid=STUDY_A)])
    part.close()
    assert sorted(s.name for s in spans.get_finished_spans()) == ["finalized", "study"]


def test_the_builder_holds_only_configuration_and_pickles() -> None:
    sink = TraceSink("http://127.0.0.1:4318", service_name="radiology", quiet_seconds=60)
    again = pickle.loads(pickle.dumps(sink))
    assert again.endpoint == "http://127.0.0.1:4318/v1/traces"
    assert again.service_name == "radiology"
    assert again.buffer_options["quiet_seconds"] == 60


def test_endpoint_and_exporter_together_are_refused(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ConfigError, match="not both"):
        TraceSink("http://127.0.0.1:4318", exporter=spans)
    with pytest.raises(ConfigError, match="key 'endpoint'"):
        TraceSink("127.0.0.1:4318")
    with pytest.raises(ConfigError, match="key 'quiet_seconds'"):
        TraceSink(exporter=spans, quiet_seconds=0)


def test_without_the_otel_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(MissingExtraError, match=r"streamgale\[otel\]"):
        TraceSink("http://127.0.0.1:4318")
