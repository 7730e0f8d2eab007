"""HTTP plumbing of the dashboard: login, sessions, CSRF, static files, the API.

Which requests need what:

=============================  ==========================  =======================
path                           without a login             with one
=============================  ==========================  =======================
``/login`` (GET, POST)         the login form              (POST: a new session)
``/static/*``, ``/healthz``    served                      served
``/``                          303 to ``/login``           the dashboard page
``/api/*``, ``/metrics``, ...  401 JSON                    answered
POST ``/api/*``, ``/logout``   401 JSON                    cookie: CSRF header and
                                                           same Origin required
=============================  ==========================  =======================

A login is the session cookie or ``Authorization: Bearer <admin token>``.
When the server listens on loopback, the Host header must name loopback
too, so a web page that rebinds its DNS name to 127.0.0.1 gets nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from streamgale.dashboard.api import JSON_TYPE, Reply, handle_api, json_reply
from streamgale.dashboard.auth import SESSION_COOKIE, AdminToken, Session, SessionStore
from streamgale.errors import IngestError, StreamGaleError

__all__ = ["CSRF_HEADER", "DashboardHTTPServer"]

logger = logging.getLogger("streamgale.dashboard")

CSRF_HEADER = "X-CSRF-Token"
_MAX_BODY = 256 * 1024
_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not "no-referrer": under it Chromium sends "Origin: null" with form posts,
    # and the login's same-origin check could not tell our page from any other.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class DashboardHTTPServer(ThreadingHTTPServer):
    """One thread per connection; holds what every request needs."""

    daemon_threads = True
    backend: Any
    admin: AdminToken
    sessions: SessionStore
    loopback_only: bool


class DashboardHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests; see the module docstring for the rules."""

    server: DashboardHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "StreamGale"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        self._body_read = method == "GET"
        try:
            reply = self._route(method)
        except IngestError as exc:
            reply = json_reply(exc.status, {"error": str(exc)})
        except StreamGaleError as exc:  # the admin token file went missing or bad
            logger.error("dashboard: %s", exc)
            reply = json_reply(503, {"error": str(exc)})
        except Exception:
            logger.exception("dashboard: %s %s failed", method, self.path)
            reply = json_reply(500, {"error": "internal error; the server log has the details"})
        self._send(reply)

    def _route(self, method: str) -> Reply:
        if not self._host_allowed():
            return json_reply(421, {"error": "this server answers only to localhost names"})
        url = urlsplit(self.path)
        public = self._public(method, url.path)
        if public is not None:
            return public
        login, session = self._authenticate()
        if login is None:
            return _stranger(url.path)
        if method == "POST" and session is not None:
            self._check_csrf(session)
        return self._member(method, url.path, url.query, session)

    def _public(self, method: str, path: str) -> Reply | None:
        """What anyone may fetch: the login form, static files, the health check."""
        if path == "/healthz":
            return json_reply(200, {"status": "ok"})
        if path.startswith("/static/") and method == "GET":
            return _static(path.removeprefix("/static/"))
        if path == "/login":
            return self._login(method)
        return None

    def _member(self, method: str, path: str, query: str, session: Session | None) -> Reply:
        """What a logged-in user gets."""
        backend = self.server.backend
        if path in ("/", "/index.html") and method == "GET":
            return _page("index.html")
        if path == "/logout" and method == "POST":
            return self._logout(session)
        if path == "/metrics" and method == "GET":
            return Reply(200, backend.metrics(), "text/plain; version=0.0.4")
        if path == "/api/session" and method == "GET":
            csrf = session.csrf if session is not None else None
            return json_reply(200, {"pipeline": backend.name, "csrf": csrf})
        if path.startswith("/api/"):
            body = self._json_body() if method == "POST" else None
            return handle_api(backend, method, path, parse_qs(query), body)
        return json_reply(404, {"error": f"no such page {path!r}; the dashboard is at /"})

    # Authentication ------------------------------------------------------
    def _authenticate(self) -> tuple[str | None, Session | None]:
        """("bearer" | "session" | None, the session when it is a cookie login)."""
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return ("bearer", None) if self.server.admin.verify(token.strip()) else (None, None)
        session_id = _cookie(self.headers.get("Cookie") or "", SESSION_COOKIE)
        if session_id:
            session = self.server.sessions.get(session_id, self.server.admin.generation())
            if session is not None:
                return "session", session
        return None, None

    def _login(self, method: str) -> Reply:
        if method == "GET":
            return _page("login.html")
        if method != "POST":
            return Reply(405, b"", "text/plain", {"Allow": "GET, POST"})
        self._check_origin()
        form = parse_qs(self._read_body().decode("utf-8", "replace"))
        token = (form.get("token") or [""])[-1].strip()
        if not token or not self.server.admin.verify(token):
            page = _page("login.html")
            body = page.body.replace(b'id="error" hidden', b'id="error"')
            return Reply(401, body, page.content_type)
        session = self.server.sessions.open(self.server.admin.generation())
        cookie = f"{SESSION_COOKIE}={session.id}; HttpOnly; SameSite=Strict; Path=/"
        return Reply(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})

    def _logout(self, session: Session | None) -> Reply:
        if session is not None:
            self.server.sessions.close(session.id)
        cookie = f"{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        return Reply(303, b"", "text/plain", {"Location": "/login", "Set-Cookie": cookie})

    def _check_csrf(self, session: Session) -> None:
        """A cookie-authenticated POST must come from our own page: CSRF header and Origin."""
        self._check_origin()
        sent = self.headers.get(CSRF_HEADER) or ""
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise IngestError(
                f"missing or wrong {CSRF_HEADER} header; reload the dashboard page", status=403
            )

    def _check_origin(self) -> None:
        origin = self.headers.get("Origin")
        if origin is None:
            return  # not a browser, or a browser old enough to send no Origin: the token decides
        host = self.headers.get("Host") or ""
        if urlsplit(origin).netloc != host:
            raise IngestError(f"cross-origin request from {origin!r} refused", status=403)

    def _host_allowed(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = (self.headers.get("Host") or "").strip()
        name = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
        return name.lower() in _LOOPBACK

    # Bodies and replies --------------------------------------------------
    def _read_body(self) -> bytes:
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            raise IngestError("send the body with a Content-Length header", status=411)
        if length > _MAX_BODY:
            raise IngestError(f"the body is {length} bytes; at most {_MAX_BODY}", status=413)
        body = self.rfile.read(length)
        self._body_read = True
        return body

    def _json_body(self) -> Any:
        media = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media != JSON_TYPE:
            raise IngestError(f"send the body as {JSON_TYPE}", status=415)
        body = self._read_body()
        try:
            return json.loads(body) if body else None
        except ValueError as exc:
            raise IngestError(f"the body is not valid JSON: {exc}") from exc

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in {**_SECURITY_HEADERS, **reply.headers}.items():
            self.send_header(name, value)
        if not self._body_read:
            # An unread body would be parsed as the next request; close instead.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)


def _stranger(path: str) -> Reply:
    """Someone not logged in: pages send them to the login form, the API says 401."""
    if path in ("/", "/index.html"):
        return Reply(303, b"", "text/plain", {"Location": "/login"})
    message = (
        "log in first: POST the admin token to /login, "
        "or send 'Authorization: Bearer <admin token>'"
    )
    return Reply(
        401,
        json.dumps({"error": message}).encode(),
        headers={"WWW-Authenticate": 'Bearer realm="streamgale"'},
    )


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def _asset(name: str) -> bytes:
    return resources.files("streamgale.dashboard").joinpath("static").joinpath(name).read_bytes()


def _page(name: str) -> Reply:
    return Reply(200, _asset(name), "text/html; charset=utf-8")


def _static(name: str) -> Reply:
    kind = _STATIC.get(name)
    if kind is None:
        return json_reply(404, {"error": f"no static file {name!r}"})
    return Reply(200, _asset(name), kind)
