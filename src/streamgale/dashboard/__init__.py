"""The web dashboard: the pipeline live, results, quarantine, destinations and SQL.

Served by the pipeline's own process (:class:`DashboardServer`, stdlib HTTP,
127.0.0.1 by default) from one page of plain HTML, CSS and JavaScript that
ships with the package: nothing is fetched from the internet. Every page but
the login form needs the admin token, generated on the first start and
printed once (:mod:`streamgale.dashboard.auth`).

The server reads a :class:`DashboardBackend`; :class:`RadiologyBackend`
adapts a running :class:`~streamgale.dicom.radiology.RadiologyApp`::

    backend = RadiologyBackend(app)
    server = DashboardServer(backend, state_dir=app.settings.state_dir, port=8080)
    server.start()
    print(server.url, server.first_token)  # the token only on the first start

:class:`streamgale.service.RadiologyService` does this for a running service;
the pipeline itself never builds (or imports) the dashboard.
"""

from streamgale.dashboard.auth import AdminToken, SessionStore, reset_admin_token
from streamgale.dashboard.backend import DashboardBackend, JsonObject
from streamgale.dashboard.lake import LakeConsole
from streamgale.dashboard.radiology import RadiologyBackend
from streamgale.dashboard.rates import RateWindow, StepReading, histogram_quantile
from streamgale.dashboard.server import DashboardServer
from streamgale.dashboard.thumbnail import render_thumbnail, seg_mask

__all__ = [
    "AdminToken",
    "DashboardBackend",
    "DashboardServer",
    "JsonObject",
    "LakeConsole",
    "RadiologyBackend",
    "RateWindow",
    "SessionStore",
    "StepReading",
    "histogram_quantile",
    "render_thumbnail",
    "reset_admin_token",
    "seg_mask",
]
