"""The dashboard's web server, run in the pipeline's own process.

:class:`DashboardServer` serves the pages and the JSON API of one
:class:`~streamgale.dashboard.backend.DashboardBackend` on a stdlib
``ThreadingHTTPServer`` in a daemon thread. It listens on 127.0.0.1 unless
told otherwise, and every page but the login form needs the admin token
(:mod:`streamgale.dashboard.auth`), which it generates on the first start
and offers exactly once, as :attr:`DashboardServer.first_token`.

>>> import json, tempfile, urllib.request
>>> from pathlib import Path
>>> class Backend:
...     name = "demo"
...     def graph(self): return {"pipeline": "demo", "steps": [], "edges": []}
>>> server = DashboardServer(Backend(), state_dir=Path(tempfile.mkdtemp()), port=0)
>>> with server:
...     request = urllib.request.Request(
...         server.url + "api/graph", headers={"Authorization": f"Bearer {server.first_token}"})
...     json.load(urllib.request.urlopen(request))["pipeline"]
'demo'
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from pathlib import Path
from types import TracebackType

from streamgale.connectors.httpd import listen
from streamgale.dashboard._handler import DashboardHandler, DashboardHTTPServer
from streamgale.dashboard.auth import AdminToken, SessionStore
from streamgale.dashboard.backend import DashboardBackend

__all__ = ["DashboardServer"]

logger = logging.getLogger("streamgale.dashboard")

_SHUTDOWN_POLL_S = 0.1


class DashboardServer:
    """Serves ``backend`` at ``http://host:port/`` until :meth:`stop`.

    ``state_dir`` holds ``dashboard/admin.json``. ``port=0`` picks a free
    port (read :attr:`url` after :meth:`start`). A port in use raises
    :class:`~streamgale.errors.ConfigError` from :meth:`start`.
    """

    def __init__(
        self,
        backend: DashboardBackend,
        *,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 8080,
        request_timeout_s: float = 30.0,
    ) -> None:
        self.backend = backend
        self.host = host
        self.port = port
        self.request_timeout_s = request_timeout_s
        self.admin = AdminToken(Path(state_dir) / "dashboard")
        self.first_token: str | None = None
        """The admin token when this start created it (print it once), else None.

        Made only once the port is bound: a start that fails leaves no token
        file behind, which would hide the token from the next start."""
        self.sessions = SessionStore()
        self._server: DashboardHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to point a browser, e.g. ``http://127.0.0.1:8080/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Listen and serve in a daemon thread; returns once the port is bound."""
        if self._server is not None:
            return
        server = listen(
            DashboardHTTPServer,
            DashboardHandler,
            self.host,
            self.port,
            timeout=self.request_timeout_s,
        )
        server.backend = self.backend
        server.admin = self.admin
        server.sessions = self.sessions
        server.loopback_only = _is_loopback(self.host)
        if not server.loopback_only:
            logger.warning(
                "the dashboard listens on %s without TLS: the token and the session cookie "
                "cross the network in clear; serve it behind an HTTPS proxy",
                self.host,
            )
        self.port = int(server.server_address[1])
        self.first_token = self.admin.ensure()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_S},
            name=f"dashboard-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> DashboardServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    >>> _is_loopback("127.0.0.1"), _is_loopback("localhost"), _is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
