"""The API route table, without HTTP: arguments checked, answers and errors shaped."""

from __future__ import annotations

import json

import pytest

from streamgale.dashboard.api import handle_api
from tests.dashboard.fakes import FakeBackend


def test_quarantine_reads_its_filter_and_limit() -> None:
    reply = handle_api(
        FakeBackend(), "GET", "/api/quarantine", {"status": ["released"], "limit": ["7"]}, None
    )
    assert json.loads(reply.body) == {"counts": {}, "entries": [], "status": "released", "limit": 7}


@pytest.mark.parametrize("limit", ["0", "501", "ten", "-1"])
def test_a_bad_limit_is_refused_with_the_allowed_range(limit: str) -> None:
    reply = handle_api(FakeBackend(), "GET", "/api/results", {"limit": [limit]}, None)
    assert reply.status == 400
    assert "1 to 500" in json.loads(reply.body)["error"]


@pytest.mark.parametrize(
    "body", [None, {}, {"ids": []}, {"ids": "q1"}, {"ids": [1]}, {"ids": [""]}]
)
def test_actions_need_a_list_of_ids(body: object) -> None:
    backend = FakeBackend()
    reply = handle_api(backend, "POST", "/api/quarantine/discard", {}, body)
    assert reply.status == 400 and "ids" in json.loads(reply.body)["error"]
    assert backend.discarded == []


def test_discard_passes_the_ids_on() -> None:
    backend = FakeBackend()
    reply = handle_api(backend, "POST", "/api/quarantine/discard", {}, {"ids": ["a", "b"]})
    assert json.loads(reply.body) == {"discarded": 2} and backend.discarded == ["a", "b"]


def test_an_unknown_id_is_a_client_error_with_the_reason() -> None:
    reply = handle_api(FakeBackend(), "POST", "/api/quarantine/release", {}, {"ids": ["unknown"]})
    assert reply.status == 400 and "unknown" in json.loads(reply.body)["error"]


def test_reports_take_their_params_from_the_body() -> None:
    backend = FakeBackend()
    reply = handle_api(backend, "POST", "/api/reports/study", {}, {"params": {"study_uid": "1.2"}})
    assert json.loads(reply.body) == {"name": "study", "params": {"study_uid": "1.2"}}
    assert handle_api(backend, "POST", "/api/reports/study", {}, None).status == 200
    bad = handle_api(backend, "POST", "/api/reports/study", {}, {"params": ["1.2"]})
    assert bad.status == 400


def test_sql_needs_a_query_string() -> None:
    reply = handle_api(FakeBackend(), "POST", "/api/sql", {}, {"query": "SELECT 1"})
    assert reply.status == 400 and "SELECT 42" in json.loads(reply.body)["error"]


def test_the_default_quarantine_view_is_the_open_entries() -> None:
    for query in ({}, {"status": ["open"]}):
        reply = handle_api(FakeBackend(), "GET", "/api/quarantine", query, None)
        assert json.loads(reply.body)["status"] is None
