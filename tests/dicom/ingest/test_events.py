"""Ingest events: JSON round trips and refusal of anything else."""

from __future__ import annotations

import json

import pytest

from streamgale.dicom.ingest import CompletionSignal, InstanceEvent, decode_event
from streamgale.errors import DicomError

EVENT = InstanceEvent(
    sop_instance_uid="1.2.3.4",
    sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    study_instance_uid="1.2.3",
    series_instance_uid="1.2.3.1",
    transfer_syntax_uid="1.2.840.10008.1.2.1",
    modality="CT",
    body_part_examined="CHEST",
    series_description=None,
    number_of_frames=1,
    calling_ae=None,
    source="dimse",
    path="/store/objects/ab/cd/abcd.dcm",
    size=1234,
    sha256="ab" * 32,
    received_at=1700000000.25,
)


def test_instance_event_round_trips_with_its_kind() -> None:
    data = EVENT.to_json()
    assert json.loads(data)["kind"] == "instance"
    assert InstanceEvent.from_json(data) == EVENT
    assert decode_event(data) == EVENT


def test_completion_signal_round_trips_with_lists() -> None:
    signal = CompletionSignal(
        scope="stow",
        calling_ae="SENDER",
        study_instance_uids=("1.2",),
        series_instance_uids=("1.2.1", "1.2.2"),
        sop_instance_uids=("1.2.1.1", "1.2.2.1"),
        at=5.5,
    )
    obj = json.loads(signal.to_json())
    assert obj["kind"] == "complete" and obj["series_instance_uids"] == ["1.2.1", "1.2.2"]
    assert CompletionSignal.from_json(signal.to_json()) == signal
    assert decode_event(signal.to_json()) == signal


def test_every_field_named_in_the_contract_is_in_the_json() -> None:
    obj = json.loads(EVENT.to_json())
    assert set(obj) == {
        "kind",
        "sop_instance_uid",
        "sop_class_uid",
        "study_instance_uid",
        "series_instance_uid",
        "transfer_syntax_uid",
        "modality",
        "body_part_examined",
        "series_description",
        "number_of_frames",
        "calling_ae",
        "source",
        "path",
        "size",
        "sha256",
        "received_at",
    }


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[1, 2]", b'{"no": "kind"}', b'{"kind": "other"}', b'{"kind": "instance"}'],
)
def test_decode_event_refuses_what_is_not_an_event(data: bytes) -> None:
    with pytest.raises(DicomError):
        decode_event(data)


def test_from_json_checks_the_kind() -> None:
    with pytest.raises(DicomError, match="kind 'complete'"):
        CompletionSignal.from_json(EVENT.to_json())


def test_unknown_source_and_scope_are_refused() -> None:
    with pytest.raises(DicomError, match="source"):
        InstanceEvent(**{**EVENT.__dict__, "source": "fax"})
    with pytest.raises(DicomError, match="scope"):
        CompletionSignal("email", None, (), (), (), 0.0)  # type: ignore[arg-type]
