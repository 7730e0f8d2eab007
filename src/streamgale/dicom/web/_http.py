"""HTTP plumbing of the STOW-RS endpoint: routing, body reading, status codes.

The DICOM side (what to store, what to answer) is
:meth:`streamgale.dicom.web.stow.StowServer.store_parts`; this module only
turns requests into calls of it and errors into HTTP statuses (the table in
:mod:`streamgale.dicom.web.stow`).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from streamgale.connectors.httpd import listen
from streamgale.dicom.web.multipart import DICOM_MEDIA_TYPE, parse_content_type, parse_related
from streamgale.errors import IngestError

if TYPE_CHECKING:
    from streamgale.dicom.web.stow import StowServer

__all__ = ["StowHTTPServer", "bind"]

logger = logging.getLogger("streamgale.dicom.web.stow")

DICOM_JSON = "application/dicom+json"
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_ACCEPTABLE = {DICOM_JSON, "application/json", "application/*", "*/*"}
_MAX_CHUNK_LINE = 1024
# After refusing a request whose body was not read, keep reading (and
# discarding) for a moment before closing: closing a socket with unread data
# makes the kernel send RST, and the client would see "connection reset"
# instead of our 413 or 415 (a "lingering close", as Apache does).
_LINGER_S = 2.0
_RETRY_AFTER_S = 1
"""Retry-After (RFC 9110 10.2.3) of a 503: a STOW-RS request usually takes well under this."""


class StowHTTPServer(ThreadingHTTPServer):
    """One thread per connection; threads die with the process.

    ``request_slots`` bounds the POSTs served at once: each holds its body in
    memory, and a thread per connection alone bounds nothing.
    """

    daemon_threads = True
    config: StowServer
    request_slots: threading.BoundedSemaphore


def bind(config: StowServer) -> StowHTTPServer:
    """Listen on the configured address; a port in use becomes a ConfigError."""
    server = listen(
        StowHTTPServer, _StowHandler, config.host, config.port, timeout=config.request_timeout_s
    )
    server.config = config
    server.request_slots = threading.BoundedSemaphore(config.max_concurrent_requests)
    return server


class _StowHandler(BaseHTTPRequestHandler):
    server: StowHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "StreamGale"
    # Headers and body go out in separate writes; with Nagle's algorithm on,
    # the body would wait for the client's delayed ACK (40 ms) every time.
    disable_nagle_algorithm = True
    _body_read = False
    _linger = False

    def do_GET(self) -> None:
        self._body_read = False
        if self._path() == f"{self.server.config.path_prefix}/healthz" and self.command == "GET":
            self._reply_json(200, {"status": "ok"})
        else:
            self._refuse_route()

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET  # noqa: N815 - http.server names

    def do_POST(self) -> None:
        self._body_read = False
        matched, study_uid = self._study_route()
        if not matched:
            self._refuse_route()
            return
        slots = self.server.request_slots
        if not slots.acquire(blocking=False):  # refused before its body is read
            self._reply_busy()
            return
        try:
            self._store(study_uid)
        finally:
            slots.release()

    def _store(self, study_uid: str | None) -> None:
        try:
            parts = self._read_parts(study_uid)
        except IngestError as exc:
            self._reply_error(exc)
            return
        if parts is None:  # the client went away mid-body
            return
        response = self.server.config.store_parts(parts, study_uid)
        self._reply_json(response.http_status, response.to_json(), DICOM_JSON)

    def _reply_busy(self) -> None:
        limit = self.server.config.max_concurrent_requests
        message = (
            f"the server is already storing {limit} STOW-RS requests, its limit "
            f"(max_concurrent_requests); retry in {_RETRY_AFTER_S} s"
        )
        self._reply_json(503, {"error": message}, headers={"Retry-After": str(_RETRY_AFTER_S)})

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it."""
        length = _int_or_none(self.headers.get("Content-Length"))
        if length is not None and length > self.server.config.max_body:
            self._reply_error(_too_large(length, self.server.config.max_body))
            return False
        return super().handle_expect_100()

    def _read_parts(self, study_uid: str | None) -> list[Any] | None:
        config = self.server.config
        if config.auth is not None and not config.auth(self.headers.get("Authorization")):
            raise IngestError(
                "missing or wrong credentials in the Authorization header", status=401
            )
        if study_uid is not None and (len(study_uid) > 64 or not _UID.fullmatch(study_uid)):
            raise IngestError(
                f"{study_uid[:80]!r} in the URL is not a Study Instance UID "
                "(digits and dots, at most 64 characters)"
            )
        content_type = self._dicom_content_type()
        self._check_accept()
        body = self._read_body(config.max_body)
        return None if body is None else parse_related(content_type, body)

    def _dicom_content_type(self) -> str:
        value = self.headers.get("Content-Type") or ""
        media, params = parse_content_type(value)
        # RFC 2387 requires the type parameter; senders that omit it are
        # accepted, since each part's own Content-Type is checked anyway.
        kind = params.get("type", DICOM_MEDIA_TYPE).lower()
        if media != "multipart/related" or kind != DICOM_MEDIA_TYPE:
            raise IngestError(
                f"Content-Type {value or '(none)'!r} is not supported; send "
                f'multipart/related; type="{DICOM_MEDIA_TYPE}"; boundary=... '
                "with one DICOM Part 10 file per part",
                status=415,
            )
        return value

    def _check_accept(self) -> None:
        accept = self.headers.get("Accept")
        if not accept:
            return
        offered = {parse_content_type(item)[0] for item in accept.split(",")}
        if not offered & _ACCEPTABLE:
            raise IngestError(
                f"cannot answer in {accept!r}; this server answers in {DICOM_JSON}", status=406
            )

    def _read_body(self, limit: int) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise IngestError(
                "the request has neither Content-Length nor chunked transfer coding", status=411
            )
        length = _int_or_none(raw)
        if length is None or length < 0:
            raise IngestError(f"invalid Content-Length {raw!r}; send a byte count")
        if length > limit:
            raise _too_large(length, limit)
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return None
        self._body_read = True
        return body

    def _read_chunked(self, limit: int) -> bytes | None:
        """Decode ``Transfer-Encoding: chunked`` (RFC 9112 7.1), at most ``limit`` bytes."""
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE)
            if not line:
                self.close_connection = True
                return None
            size = _int_or_none(line.split(b";", 1)[0].strip().decode("latin-1"), base=16)
            if size is None or size < 0:
                raise IngestError(f"malformed chunk size line {line[:40]!r} in a chunked body")
            if size == 0:
                break
            total += size
            if total > limit:
                raise _too_large(total, limit)
            data = self.rfile.read(size)
            if len(data) < size:
                self.close_connection = True
                return None
            chunks.append(data)
            if self.rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n"):
                raise IngestError("a chunk of the chunked body is not followed by a line end")
        while self.rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n", b""):
            pass  # trailer fields carry nothing we use
        self._body_read = True
        return b"".join(chunks)

    def _path(self) -> str:
        return unquote(urlsplit(self.path).path)

    def _study_route(self) -> tuple[bool, str | None]:
        """Whether the path is ``/studies[/{uid}]`` under the prefix, and the UID."""
        studies = f"{self.server.config.path_prefix}/studies"
        path = self._path().rstrip("/")
        if path == studies:
            return True, None
        if path.startswith(studies + "/") and "/" not in path[len(studies) + 1 :]:
            return True, path[len(studies) + 1 :]
        return False, None

    def _refuse_route(self) -> None:
        prefix = self.server.config.path_prefix
        if self._study_route()[0]:
            message = f"use POST on {self._path()} (this server implements STOW-RS only)"
            self._reply_json(405, {"error": message}, headers={"Allow": "POST"})
        elif self._path() == f"{prefix}/healthz":
            self._reply_json(405, {"error": "use GET on the health path"}, headers={"Allow": "GET"})
        else:
            message = f"no such path {self._path()!r}; POST instances to {prefix}/studies"
            self._reply_json(404, {"error": message})

    def _reply_error(self, exc: IngestError) -> None:
        headers = {"WWW-Authenticate": 'Bearer realm="streamgale"'} if exc.status == 401 else {}
        self._reply_json(exc.status, {"error": str(exc)}, headers=headers)

    def _reply_json(
        self,
        status: int,
        payload: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status >= 400 and not self._body_read and self.command != "GET":
            # An unread body would be parsed as the next request on a kept-alive
            # connection; close it instead.
            self.send_header("Connection", "close")
            self.close_connection = True
            self._linger = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def finish(self) -> None:
        super().finish()
        if self._linger:
            _drain(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)


def _drain(connection: socket.socket) -> None:
    """Half-close, then discard what the client still sends, for at most _LINGER_S."""
    deadline = time.monotonic() + _LINGER_S
    try:
        connection.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            connection.settimeout(left)
            if not connection.recv(65536):
                return
    except OSError:  # timed out or reset: the close that follows is all that is left
        return


def _too_large(length: int, limit: int) -> IngestError:
    return IngestError(
        f"the body is {length} bytes, more than the limit of {limit}; "
        "send the instances in several requests",
        status=413,
    )


def _int_or_none(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None
