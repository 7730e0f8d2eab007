"""StudyBuffer: when a study's rows are released, and what survives a snapshot."""

from __future__ import annotations

import pickle

import pytest

from streamgale.errors import ConfigError
from streamgale.tracing import StudyBuffer
from tests.tracing.helpers import STUDY_A, STUDY_B, row, study_rows


def test_a_study_waits_for_its_terminal_row_and_the_settle_time() -> None:
    buffer = StudyBuffer(settle_seconds=2.0, quiet_seconds=100.0)
    rows = study_rows(STUDY_A, 0.0)
    for r in rows[:-1]:
        buffer.add(r, now=0.0)
    assert buffer.due(now=50.0) == []
    buffer.add(rows[-1], now=50.0)
    assert buffer.due(now=51.0) == []  # another model may still finalize
    [group] = buffer.due(now=52.0)
    assert (group.key, len(group.rows), group.continuation) == (STUDY_A, len(rows), False)
    assert len(buffer) == 0


def test_a_row_after_the_terminal_one_restarts_the_settle_time() -> None:
    buffer = StudyBuffer(settle_seconds=2.0)
    buffer.add(row("finalized", 1.0, level="study", study_uid=STUDY_A, model="a"), now=0.0)
    buffer.add(row("finalized", 2.0, level="study", study_uid=STUDY_A, model="b"), now=1.5)
    assert buffer.due(now=2.5) == []
    [group] = buffer.due(now=3.5)
    assert [r["model"] for r in group.rows] == ["a", "b"]


def test_an_unfinished_study_is_released_after_the_quiet_time() -> None:
    buffer = StudyBuffer(quiet_seconds=30.0)
    buffer.add(row("validated", 1.0, study_uid=STUDY_A), now=0.0)
    assert buffer.due(now=29.9) == []
    [group] = buffer.due(now=30.0)
    assert group.key == STUDY_A and not group.continuation


def test_rows_after_release_are_a_continuation_of_the_written_trace() -> None:
    buffer = StudyBuffer(settle_seconds=0.0)
    buffer.add(row("finalized", 1.0, level="study", study_uid=STUDY_A), now=0.0)
    assert [g.continuation for g in buffer.due(now=0.0)] == [False]
    buffer.add(row("delivered", 9.0, level="study", study_uid=STUDY_A), now=5.0)
    [late] = buffer.due(now=5.0)
    assert late.continuation and late.rows[0]["stage"] == "delivered"


def test_a_forgotten_study_gets_a_root_again() -> None:
    buffer = StudyBuffer(settle_seconds=0.0, remember=1)
    for study in (STUDY_A, STUDY_B):
        buffer.add(row("finalized", 1.0, level="study", study_uid=study), now=0.0)
    buffer.due(now=0.0)
    buffer.add(row("delivered", 2.0, level="study", study_uid=STUDY_A), now=1.0)
    buffer.add(row("delivered", 2.0, level="study", study_uid=STUDY_B), now=1.0)
    continuation = {g.key: g.continuation for g in buffer.due(now=1.0)}
    assert continuation == {STUDY_A: False, STUDY_B: True}


def test_past_max_rows_the_oldest_study_is_released_early() -> None:
    buffer = StudyBuffer(max_rows=3)
    buffer.add(row("validated", 1.0, study_uid=STUDY_A), now=0.0)
    buffer.add(row("validated", 2.0, study_uid=STUDY_A), now=0.0)
    assert buffer.due(now=0.0) == []
    buffer.add(row("validated", 3.0, study_uid=STUDY_B), now=0.0)
    buffer.add(row("validated", 4.0, study_uid=STUDY_B), now=0.0)
    [group] = buffer.due(now=0.0)
    assert group.key == STUDY_A and len(buffer) == 2


def test_rows_are_grouped_by_study_then_by_instance_and_loose_rows_go_alone() -> None:
    buffer = StudyBuffer(quiet_seconds=1.0)
    buffer.add(row("quarantined", 1.0, instance_uid="1.9", outcome="quarantined"), now=0.0)
    buffer.add(row("received", 1.0, level="study"), now=0.0)
    groups = buffer.due(now=0.5)
    assert [(g.key, len(g.rows)) for g in groups] == [(None, 1)]
    assert [g.key for g in buffer.due(now=1.0)] == ["1.9"]


def test_only_telemetry_columns_are_kept() -> None:
    buffer = StudyBuffer(settle_seconds=0.0)
    leaked = row("finalized", 1.0, level="study", study_uid=STUDY_A)
    leaked["patient_name"] = "Doe^Jane"
    buffer.add(leaked, now=0.0)
    [group] = buffer.due(now=0.0)
    assert "patient_name" not in group.rows[0] and "table" not in group.rows[0]
    assert group.rows[0]["study_uid"] == STUDY_A


def test_a_snapshot_round_trips_through_pickle() -> None:
    buffer = StudyBuffer(settle_seconds=0.0)
    buffer.add(row("finalized", 1.0, level="study", study_uid=STUDY_A), now=0.0)
    buffer.due(now=0.0)
    buffer.add(row("validated", 2.0, study_uid=STUDY_B), now=3.0)
    buffer.add(row("received", 2.0, level="study"), now=3.0)
    state = pickle.loads(pickle.dumps(buffer.snapshot()))
    again = StudyBuffer(settle_seconds=0.0, quiet_seconds=10.0)
    again.restore(state)
    assert len(again) == 2
    again.add(row("delivered", 5.0, level="study", study_uid=STUDY_A), now=4.0)
    groups = {g.key: g for g in again.due(now=4.0)}
    assert groups[STUDY_A].continuation  # remembered across the restart
    assert None in groups and STUDY_B not in groups
    [b] = again.due(now=13.0)  # its quiet time counts from before the restart
    assert b.key == STUDY_B


@pytest.mark.parametrize(
    ("option", "value"),
    [("settle_seconds", -1.0), ("quiet_seconds", 0.0), ("max_rows", 0), ("remember", -1)],
)
def test_bad_options_are_config_errors_naming_the_key(option: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"key '{option}'"):
        StudyBuffer(**{option: value})  # type: ignore[arg-type]
