"""Listening sockets for StreamGale's small HTTP servers (ingest, STOW-RS, metrics).

One place decides the address family from the host, gives each connection a
read timeout, and turns "address in use" into a :class:`ConfigError` that
says what to do.
"""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

from streamgale.errors import ConfigError

__all__ = ["listen"]

S = TypeVar("S", bound=ThreadingHTTPServer)


def listen(
    server: type[S],
    handler: type[BaseHTTPRequestHandler],
    host: str,
    port: int,
    *,
    timeout: float | None = None,
) -> S:
    """Bind ``server`` on ``host:port`` (0 picks a free port) with ``handler``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound = type(f"_Bound{server.__name__}", (server,), {"address_family": family})
    handler_class = type("_Handler", (handler,), {"timeout": timeout}) if timeout else handler
    try:
        instance: S = bound((host, port), handler_class)
        return instance
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another port (0 picks a free one) or stop the process using it",
            key="port",
        ) from exc
