"""The dashboard server over HTTP: who gets in, CSRF, and what the pages and API answer."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamgale.dashboard import DashboardServer
from streamgale.dashboard.auth import SESSION_COOKIE, reset_admin_token
from tests.dashboard.fakes import PNG, FakeBackend


class Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self) -> Any:
        assert self.headers["Content-Type"] == "application/json"
        return json.loads(self.body)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def server(tmp_path: Path, backend: FakeBackend) -> Iterator[DashboardServer]:
    with DashboardServer(backend, state_dir=tmp_path, port=0) as running:
        yield running


def call(
    server: DashboardServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return Reply(connection.getresponse())
    finally:
        connection.close()


def bearer(server: DashboardServer) -> dict[str, str]:
    assert server.first_token is not None
    return {"Authorization": f"Bearer {server.first_token}"}


def log_in(server: DashboardServer) -> tuple[dict[str, str], str]:
    """Log in with the form; returns the cookie header and the session's CSRF token."""
    assert server.first_token is not None
    reply = call(
        server,
        "POST",
        "/login",
        f"token={server.first_token}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 303 and reply.headers["Location"] == "/"
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    assert session.startswith(f"{SESSION_COOKIE}=")
    answer = call(server, "GET", "/api/session", headers={"Cookie": session}).json()
    return {"Cookie": session}, answer["csrf"]


def post_json(server: DashboardServer, path: str, payload: Any, headers: dict[str, str]) -> Reply:
    return call(
        server,
        "POST",
        path,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", **headers},
    )


@pytest.mark.parametrize(
    "path", ["/api/graph", "/api/steps", "/api/results", "/api/session", "/metrics"]
)
def test_api_and_metrics_refuse_requests_without_a_login(
    server: DashboardServer, path: str
) -> None:
    reply = call(server, "GET", path)
    assert reply.status == 401
    assert "log in" in reply.json()["error"]
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_page_sends_a_stranger_to_the_login_form(server: DashboardServer) -> None:
    reply = call(server, "GET", "/")
    assert reply.status == 303 and reply.headers["Location"] == "/login"
    form = call(server, "GET", "/login")
    assert form.status == 200 and b'name="token"' in form.body
    assert call(server, "GET", "/static/app.js").status == 200
    assert call(server, "GET", "/static/../auth.py").status == 404


def test_a_wrong_token_gets_no_session(server: DashboardServer) -> None:
    reply = call(
        server,
        "POST",
        "/login",
        b"token=not-the-token",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 401 and "Set-Cookie" not in reply.headers
    assert b'id="error" hidden' not in reply.body  # the page says the token was wrong
    wrong = {"Authorization": "Bearer not-the-token"}
    assert call(server, "GET", "/api/graph", headers=wrong).status == 401


def test_the_bearer_token_opens_the_api_and_metrics(server: DashboardServer) -> None:
    graph = call(server, "GET", "/api/graph", headers=bearer(server)).json()
    assert [s["id"] for s in graph["steps"]] == ["in", "out"]
    metrics = call(server, "GET", "/metrics", headers=bearer(server))
    assert metrics.status == 200 and b"fake_metric 1.0" in metrics.body


def test_a_logged_in_browser_gets_the_page_and_the_api(server: DashboardServer) -> None:
    cookie, csrf = log_in(server)
    page = call(server, "GET", "/", headers=cookie)
    assert page.status == 200 and b"/static/app.js" in page.body
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert csrf
    assert call(server, "GET", "/api/results?limit=2", headers=cookie).json()["results"] == [
        {"result_id": "r-0"},
        {"result_id": "r-1"},
    ]


def test_a_post_with_the_cookie_needs_the_csrf_header_and_our_origin(
    server: DashboardServer, backend: FakeBackend
) -> None:
    cookie, csrf = log_in(server)
    origin = f"http://127.0.0.1:{server.port}"
    payload = {"ids": ["q1"]}
    missing = post_json(server, "/api/quarantine/release", payload, cookie)
    assert missing.status == 403 and "X-CSRF-Token" in missing.json()["error"]
    wrong = post_json(server, "/api/quarantine/release", payload, {**cookie, "X-CSRF-Token": "x"})
    assert wrong.status == 403
    foreign = post_json(
        server,
        "/api/quarantine/release",
        payload,
        {**cookie, "X-CSRF-Token": csrf, "Origin": "http://evil.example"},
    )
    assert foreign.status == 403 and "cross-origin" in foreign.json()["error"]
    assert backend.released == []
    ok = post_json(
        server,
        "/api/quarantine/release",
        payload,
        {**cookie, "X-CSRF-Token": csrf, "Origin": origin},
    )
    assert ok.status == 200 and ok.json() == {"requested": 1}
    assert backend.released == ["q1"]


def test_a_post_with_the_bearer_token_needs_no_csrf_header(
    server: DashboardServer, backend: FakeBackend
) -> None:
    reply = post_json(server, "/api/sql", {"sql": "SELECT 42"}, bearer(server))
    assert reply.json()["rows"] == [[42]]
    assert backend.queries == ["SELECT 42"]


def test_the_login_form_refuses_a_post_from_another_site(server: DashboardServer) -> None:
    assert server.first_token is not None
    reply = call(
        server,
        "POST",
        "/login",
        f"token={server.first_token}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"},
    )
    assert reply.status == 403 and "Set-Cookie" not in reply.headers


def test_a_loopback_server_ignores_other_host_names(server: DashboardServer) -> None:
    # A page whose DNS name was rebound to 127.0.0.1 sends its own name as Host.
    reply = call(server, "GET", "/api/graph", headers={**bearer(server), "Host": "evil.example"})
    assert reply.status == 421
    fine = call(server, "GET", "/api/graph", headers={**bearer(server), "Host": "localhost:1"})
    assert fine.status == 200


def test_logging_out_ends_the_session(server: DashboardServer) -> None:
    cookie, csrf = log_in(server)
    reply = call(server, "POST", "/logout", b"", {**cookie, "X-CSRF-Token": csrf})
    assert reply.status == 303 and reply.headers["Location"] == "/login"
    assert call(server, "GET", "/api/graph", headers=cookie).status == 401


def test_resetting_the_token_locks_out_the_old_one_at_once(
    server: DashboardServer, tmp_path: Path
) -> None:
    cookie, _ = log_in(server)
    old = bearer(server)
    new = reset_admin_token(tmp_path)
    assert call(server, "GET", "/api/graph", headers=old).status == 401
    assert call(server, "GET", "/api/graph", headers=cookie).status == 401
    assert (
        call(server, "GET", "/api/graph", headers={"Authorization": f"Bearer {new}"}).status == 200
    )


def test_a_second_start_prints_no_token_and_keeps_the_first(
    tmp_path: Path, server: DashboardServer, backend: FakeBackend
) -> None:
    with DashboardServer(backend, state_dir=tmp_path, port=0) as second:
        assert second.first_token is None
        assert call(second, "GET", "/api/graph", headers=bearer(server)).status == 200


def test_bodies_must_be_json_and_small(server: DashboardServer) -> None:
    form = call(
        server, "POST", "/api/sql", b"sql=1", {**bearer(server), "Content-Type": "text/plain"}
    )
    assert form.status == 415
    big = post_json(server, "/api/sql", {"sql": "x" * 300_000}, bearer(server))
    assert big.status == 413
    broken = call(
        server, "POST", "/api/sql", b"{", {**bearer(server), "Content-Type": "application/json"}
    )
    assert broken.status == 400 and "not valid JSON" in broken.json()["error"]


def test_api_errors_become_statuses_with_reasons(server: DashboardServer) -> None:
    auth = bearer(server)
    assert call(server, "GET", "/api/results/r-9", headers=auth).json() == {
        "error": "no result with id 'r-9'"
    }
    assert call(server, "GET", "/api/results/r-9", headers=auth).status == 404
    reports = call(server, "GET", "/api/reports", headers=auth)
    assert reports.status == 501 and "streamgale[sql]" in reports.json()["error"]
    refused = post_json(server, "/api/sql", {"sql": "DROP TABLE x"}, auth)
    assert refused.status == 400 and "refused" in refused.json()["error"]
    crash = post_json(server, "/api/reports/boom", {}, auth)
    assert crash.status == 500 and "a bug" not in crash.json()["error"]
    assert call(server, "GET", "/api/nothing", headers=auth).status == 404
    wrong_method = call(server, "DELETE", "/api/graph", headers=auth)
    assert wrong_method.status == 405 and wrong_method.headers["Allow"] == "GET"


def test_results_come_as_json_and_thumbnails_as_png(server: DashboardServer) -> None:
    auth = bearer(server)
    detail = call(server, "GET", "/api/results/r-1", headers=auth).json()
    assert detail == {"result_id": "r-1", "score": None}  # NaN is not JSON: null
    png = call(server, "GET", "/api/results/r-1/thumbnail", headers=auth)
    assert png.headers["Content-Type"] == "image/png" and png.body == PNG
