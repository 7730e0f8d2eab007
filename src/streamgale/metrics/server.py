"""Serves one pipeline's metrics at ``GET /metrics`` for Prometheus to scrape.

A stdlib :class:`~http.server.ThreadingHTTPServer` runs in a daemon thread,
bound to loopback by default: metrics say a lot about the data flowing, so
exposing them beyond the machine is a decision, not a default.

>>> import urllib.request
>>> from streamgale.metrics import PipelineMetrics
>>> with MetricsServer(PipelineMetrics("demo")) as server:
...     body = urllib.request.urlopen(server.url).read()
>>> b"streamgale_checkpoints_total" in body
True
"""

from __future__ import annotations

import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from streamgale.metrics.registry import PipelineMetrics

__all__ = ["METRICS_PATH", "MetricsServer"]

METRICS_PATH = "/metrics"

_SHUTDOWN_POLL_S = 0.05
"""How often the serving loop checks for close(): the most close() waits."""

_log = logging.getLogger(__name__)


class MetricsServer:
    """Serves ``metrics`` over HTTP until :meth:`close`; ``port=0`` picks a free port."""

    def __init__(self, metrics: PipelineMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("_BoundMetricsHandler", (_MetricsHandler,), {"metrics": metrics})
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_S},
            name=f"metrics-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        """Where Prometheus should scrape, e.g. ``http://127.0.0.1:9464/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    def close(self) -> None:
        """Stop serving and free the port; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _MetricsHandler(BaseHTTPRequestHandler):
    metrics: PipelineMetrics  # set on the subclass each server builds

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != METRICS_PATH:
            body = f"not found: {self.path}; metrics are served at {METRICS_PATH}\n".encode()
            self._reply(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", body)
            return
        self._reply(HTTPStatus.OK, CONTENT_TYPE_LATEST, self.metrics.exposition())

    def _reply(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes every scrape to stderr; keep that at debug level.
        _log.debug("metrics %s - %s", self.address_string(), format % args)
