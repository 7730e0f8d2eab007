"""An HTTP ingest endpoint: POST JSON records, get an answer once they are durable.

Standard library only: a :class:`http.server.ThreadingHTTPServer` in a thread
accepts requests and stores them in an :class:`~streamgale.connectors.ingest.IngestLog`
(a :class:`~streamgale.log.segment.SegmentLog` under the step's state
directory); the pipeline reads them back from there. The answers:

=====  ==========================================================================
200    ``{"accepted": n, "partition": p, "offsets": [first, last]}``: stored durably
400    invalid JSON (the message names the line for NDJSON), not objects, no key
404    unknown path; 405: another method than POST on the ingest path
411    no Content-Length (chunked bodies are not supported)
413    body larger than ``max_body``
415    Content-Type other than JSON or NDJSON, or a charset other than UTF-8
500    the disk failed; 503 with ``Retry-After``: the pipeline is too far behind
=====  ==========================================================================

Every error body is ``{"error": "..."}`` saying what was wrong and what to do,
and a refused request stores nothing. ``GET /healthz`` answers 200.

>>> import json, tempfile, threading, urllib.request
>>> from pathlib import Path
>>> from streamgale.connectors.base import BuildContext
>>> src = HttpSource(port=0)
>>> part = src.build_part(BuildContext("web", Path(tempfile.mkdtemp())), "0", None)
>>> request = urllib.request.Request(src.url, b'{"n": 1}', {"Content-Type": "application/json"})
>>> json.load(urllib.request.urlopen(request))
{'accepted': 1, 'partition': 0, 'offsets': [0, 0]}
>>> part.next_batch()
[{'n': 1}]
>>> part.close()
"""

from __future__ import annotations

import json
import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streamgale.connectors.base import BuildContext, Source
from streamgale.connectors.httpd import listen
from streamgale.connectors.ingest import IngestLog, IngestPartition
from streamgale.connectors.ingest_body import parse_body
from streamgale.errors import (
    BackpressureError,
    ConfigError,
    IngestError,
    LogError,
    StreamGaleError,
)
from streamgale.log.base import FsyncPolicy, Retention
from streamgale.log.segment import SegmentLog

__all__ = ["HttpSource"]

logger = logging.getLogger("streamgale.connectors.http")

MiB = 1024 * 1024
HEALTH_PATH = "/healthz"


class HttpSource(Source[Any]):
    """Receive records over HTTP, durably, with backpressure.

    ``POST <path>`` with ``Content-Type: application/json`` (one object or an
    array of objects) or ``application/x-ndjson`` (one object per line). The
    records are appended to a log in ``<state_dir>/ingest-log`` and the answer
    is sent only once they are durable: with ``fsync=FsyncPolicy.ALWAYS`` (the
    default) that means fsynced, concurrent requests sharing one fsync. A
    request is accepted whole or not at all.

    Requests go round-robin to the ``partitions``, or, with ``key``, each
    record to the partition its ``key`` field hashes to (see
    :class:`~streamgale.connectors.ingest.IngestLog`). While ``max_backlog_records``
    or more records are stored but not yet committed by the pipeline, requests
    get 503 with ``Retry-After``: backpressure reaching the sender.

    The server starts when the first partition is built and stops when the last
    one is closed; all partitions must be built in one process. With ``port=0``
    the system picks a free port: read :attr:`address` or :attr:`url` after
    building a partition. The partition's snapshot is the log offset of the
    next request to read; :meth:`~IngestPartition.on_commit` commits it (group:
    the step id), which lets ``retention`` delete consumed segments.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        path: str = "/ingest",
        partitions: int = 1,
        *,
        max_body: int = 16 * MiB,
        max_backlog_records: int = 1_000_000,
        fsync: FsyncPolicy = FsyncPolicy.ALWAYS,
        key: str | None = None,
        batch_size: int = 1024,
        retention: Retention | None = None,
        request_timeout_s: float = 30.0,
    ) -> None:
        _check_positive("partitions", partitions)
        _check_positive("max_body", max_body)
        _check_positive("max_backlog_records", max_backlog_records)
        _check_positive("batch_size", batch_size)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"port must be 0 to 65535, got {port!r}", key="port")
        if not path.startswith("/") or path == HEALTH_PATH:
            raise ConfigError(
                f"path must start with '/' and not be {HEALTH_PATH}, got {path!r}", key="path"
            )
        if not isinstance(fsync, FsyncPolicy):
            raise ConfigError(f"fsync must be a FsyncPolicy, got {fsync!r}", key="fsync")
        self.host, self.port, self.path, self.partitions = host, port, path, partitions
        self.max_body, self.max_backlog_records = max_body, max_backlog_records
        self.fsync, self.key, self.batch_size = fsync, key, batch_size
        self.retention = retention
        self.request_timeout_s = request_timeout_s
        self._server: _IngestServer | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The running server belongs to this process; a copy is configuration only.
        state = self.__dict__.copy()
        state["_server"] = None
        return state

    @staticmethod
    def log_directory(state_dir: Path) -> Path:
        """Where the source keeps its log, given the step's state directory."""
        return Path(state_dir) / "ingest-log"

    def list_parts(self) -> list[str]:
        """``"0"`` to ``"<partitions - 1>"``."""
        return [str(p) for p in range(self.partitions)]

    def build_part(self, ctx: BuildContext, part: str, resume_state: Any | None) -> IngestPartition:
        """Start the server if needed and read partition ``part`` from ``resume_state``."""
        if part not in self.list_parts():
            raise ConfigError(
                f"unknown partition {part!r}; this source has {self.list_parts()}", key="part"
            )
        if self._server is None or self._server.stopped:
            self._server = _IngestServer(self, ctx)
        return self._server.open_partition(int(part), ctx, resume_state)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the running server listens on."""
        if self._server is None or self._server.stopped:
            raise StreamGaleError(
                "the HTTP source is not running; build a partition first (the runtime "
                "does this when the pipeline starts)"
            )
        return self._server.address

    @property
    def url(self) -> str:
        """The full URL to POST records to."""
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{self.path}"


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}", key=name)


class _IngestServer:
    """The log and HTTP server shared by the partitions of one HttpSource."""

    def __init__(self, config: HttpSource, ctx: BuildContext) -> None:
        self.state_dir = ctx.state_dir
        group_commit = config.fsync is FsyncPolicy.ALWAYS
        log = SegmentLog(
            HttpSource.log_directory(ctx.state_dir),
            # With ALWAYS, IngestLog fsyncs itself so that concurrent requests share one.
            fsync=FsyncPolicy.NEVER if group_commit else config.fsync,
            retention=config.retention,
        )
        try:
            self.inbox = IngestLog(
                log,
                config.partitions,
                ctx.step_id,
                key=config.key,
                max_backlog_records=config.max_backlog_records,
                group_commit=group_commit,
            )
            self._http = _bind(config, self.inbox)
        except BaseException:
            log.close()
            raise
        self._batch_size = config.batch_size
        self._open: set[int] = set()
        self._lock = threading.Lock()
        self.stopped = False
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"streamgale-http-{ctx.step_id}",
            daemon=True,
        )
        self._thread.start()
        host, port = self._http.server_address[:2]
        self.address = (str(host), int(port))
        logger.info("step %s accepts records at %s:%s%s", ctx.step_id, host, port, config.path)

    def open_partition(
        self, partition: int, ctx: BuildContext, resume_state: Any | None
    ) -> IngestPartition:
        if ctx.state_dir != self.state_dir:
            raise ConfigError(
                f"partitions of one HttpSource got different state directories "
                f"({self.state_dir} and {ctx.state_dir}); build them with the step's one"
            )
        with self._lock:
            if partition in self._open:
                raise StreamGaleError(f"partition {partition} of the HTTP source is already open")
            self._open.add(partition)
        self.inbox.set_wake(partition, ctx.wake)
        return IngestPartition(
            self.inbox,
            partition,
            resume_state,
            batch_size=self._batch_size,
            on_close=lambda: self._release(partition),
        )

    def _release(self, partition: int) -> None:
        with self._lock:
            self._open.discard(partition)
            if self._open or self.stopped:
                return
            self.stopped = True
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()
        self.inbox.close()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    inbox: IngestLog
    ingest_path: str
    max_body: int


def _bind(config: HttpSource, inbox: IngestLog) -> _HttpServer:
    server = listen(
        _HttpServer, _IngestHandler, config.host, config.port, timeout=config.request_timeout_s
    )
    server.inbox, server.ingest_path, server.max_body = inbox, config.path, config.max_body
    return server


class _IngestHandler(BaseHTTPRequestHandler):
    """Maps HTTP requests to :class:`IngestLog` calls and its errors to statuses."""

    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "StreamGale"
    # Headers and body go out in two writes; with Nagle's algorithm on, the
    # body waits for the client's delayed ACK (40 ms) on every response.
    disable_nagle_algorithm = True
    _body_read = False

    def do_GET(self) -> None:
        self._body_read = False
        if self._route() == HEALTH_PATH and self.command == "GET":
            self._reply(200, {"status": "ok"})
        else:
            self._refuse_method()

    def do_POST(self) -> None:
        self._body_read = False
        if self._route() != self.server.ingest_path:
            self._refuse_method()
            return
        try:
            body = self._read_body()
            if body is None:
                return
            self.server.inbox.check_backlog()
            receipt = self.server.inbox.accept(parse_body(self.headers["Content-Type"], body))
        except BackpressureError as exc:
            retry = str(max(1, math.ceil(exc.retry_after)))
            self._reply(503, {"error": str(exc)}, {"Retry-After": retry})
        except IngestError as exc:
            self._reply(exc.status, {"error": str(exc)})
        except LogError as exc:
            logger.exception("storing an ingest request failed")
            self._reply(500, {"error": f"could not store the records durably: {exc}; retry"})
        else:
            self._reply(200, receipt.as_json())

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET  # noqa: N815 - http.server names

    def _route(self) -> str:
        return urlsplit(self.path).path

    def _refuse_method(self) -> None:
        route = self._route()
        if route == self.server.ingest_path:
            self._reply(405, {"error": f"use POST on {route}"}, {"Allow": "POST"})
        elif route == HEALTH_PATH and self.command != "GET":
            self._reply(405, {"error": f"use GET on {route}"}, {"Allow": "GET"})
        else:
            self._reply(
                404,
                {"error": f"no such path {route!r}; POST records to {self.server.ingest_path}"},
            )

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering why it cannot be read."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise IngestError(
                "chunked request bodies are not supported; send a Content-Length", status=411
            )
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            raise IngestError("the request has no Content-Length; send one", status=411)
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            raise IngestError(f"invalid Content-Length {raw_length!r}; send a byte count")
        if length > self.server.max_body:
            raise IngestError(
                f"the body is {length} bytes, more than the limit of {self.server.max_body}; "
                "split the records over several requests",
                status=413,
            )
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away
            self.close_connection = True
            return None
        self._body_read = True
        return body

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status >= 400 and not self._body_read:
            # The unread body would be parsed as the next request on a kept-alive
            # connection; close it instead.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)
