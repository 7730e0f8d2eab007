"""The JSON API under ``/api``: a route table from method and path to a backend call.

Authentication and CSRF checks happen before this module is reached
(:mod:`streamgale.dashboard._handler`); here a request is only matched,
its arguments checked, and the backend's answer or error turned into a
:class:`Reply`. The status table is in :mod:`streamgale.dashboard.backend`.

>>> class Tiny:
...     def graph(self): return {"steps": []}
>>> reply = handle_api(Tiny(), "GET", "/api/graph", {}, None)
>>> reply.status, reply.body
(200, b'{"steps": []}')
>>> handle_api(Tiny(), "DELETE", "/api/graph", {}, None).status
405
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamgale.errors import IngestError, MissingExtraError, StreamGaleError

__all__ = ["JSON_TYPE", "PNG_TYPE", "Reply", "handle_api", "json_reply"]

logger = logging.getLogger("streamgale.dashboard")

JSON_TYPE = "application/json"
PNG_TYPE = "image/png"
_MAX_IDS = 1000
_MAX_LIMIT = 500


@dataclass(frozen=True)
class Reply:
    """What to send back: a status, a body and its media type, extra headers."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: Any) -> Reply:
    """``payload`` as a JSON reply (NaN and infinity become null)."""
    return Reply(status, json.dumps(_finite(payload)).encode())


@dataclass(frozen=True)
class _Call:
    backend: Any
    match: re.Match[str]
    query: Mapping[str, Sequence[str]]
    body: Any


_Handler = Callable[[_Call], Any]


def _limit(call: _Call, default: int) -> int:
    raw = (call.query.get("limit") or [str(default)])[-1]
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 1 <= value <= _MAX_LIMIT:
        raise IngestError(f"limit must be a whole number from 1 to {_MAX_LIMIT}; got {raw!r}")
    return value


def _field(call: _Call, name: str, kind: type, example: str) -> Any:
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get(name), kind):
        raise IngestError(f"send a JSON object with {name!r}, e.g. {example}")
    return body[name]


def _ids(call: _Call) -> list[str]:
    ids = _field(call, "ids", list, '{"ids": ["3f2a..."]}')
    if not ids or len(ids) > _MAX_IDS or not all(isinstance(i, str) and i for i in ids):
        raise IngestError(f"'ids' must be 1 to {_MAX_IDS} non-empty strings")
    return [str(i) for i in ids]


def _params(call: _Call) -> dict[str, Any]:
    body = call.body if call.body is not None else {}
    params = body.get("params", {}) if isinstance(body, dict) else None
    if not isinstance(params, dict):
        raise IngestError('send the report parameters as {"params": {"name": value}}')
    return params


def _status(call: _Call) -> str | None:
    value = (call.query.get("status") or [""])[-1]
    return None if value in ("", "open") else value


_ROUTES: tuple[tuple[str, re.Pattern[str], _Handler], ...] = tuple(
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("GET", r"/api/graph", lambda c: c.backend.graph()),
        ("GET", r"/api/steps", lambda c: c.backend.steps()),
        ("GET", r"/api/results", lambda c: c.backend.results(_limit(c, 50))),
        ("GET", r"/api/results/([^/]+)", lambda c: c.backend.result(c.match[1])),
        (
            "GET",
            r"/api/results/([^/]+)/thumbnail",
            lambda c: Reply(200, c.backend.thumbnail(c.match[1]), PNG_TYPE),
        ),
        ("GET", r"/api/quarantine", lambda c: c.backend.quarantine(_status(c), _limit(c, 200))),
        ("POST", r"/api/quarantine/release", lambda c: c.backend.release(_ids(c))),
        ("POST", r"/api/quarantine/discard", lambda c: c.backend.discard(_ids(c))),
        ("GET", r"/api/destinations", lambda c: c.backend.destinations()),
        ("GET", r"/api/reports", lambda c: c.backend.reports()),
        ("POST", r"/api/reports/([^/]+)", lambda c: c.backend.report(c.match[1], _params(c))),
        (
            "POST",
            r"/api/sql",
            lambda c: c.backend.sql(_field(c, "sql", str, '{"sql": "SELECT 42"}')),
        ),
    )
)


def handle_api(
    backend: Any,
    method: str,
    path: str,
    query: Mapping[str, Sequence[str]],
    body: Any,
) -> Reply:
    """Answer one API request; errors become the statuses of the backend contract."""
    allowed = []
    for route_method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if route_method != method:
            allowed.append(route_method)
            continue
        return _call(handler, _Call(backend, match, query, body), method, path)
    if allowed:
        return Reply(
            405,
            json.dumps({"error": f"use {' or '.join(allowed)} on {path}"}).encode(),
            headers={"Allow": ", ".join(allowed)},
        )
    return json_reply(404, {"error": f"no API route {path!r}; the routes are under /api/"})


def _call(handler: _Handler, call: _Call, method: str, path: str) -> Reply:
    try:
        answer = handler(call)
    except IngestError as exc:
        return json_reply(exc.status, {"error": str(exc)})
    except LookupError as exc:
        return json_reply(404, {"error": _lookup_message(exc)})
    except MissingExtraError as exc:
        return json_reply(501, {"error": str(exc)})
    except StreamGaleError as exc:
        return json_reply(400, {"error": str(exc)})
    except Exception:
        logger.exception("dashboard API %s %s failed", method, path)
        return json_reply(500, {"error": "internal error; the server log has the details"})
    return answer if isinstance(answer, Reply) else json_reply(200, answer)


def _lookup_message(exc: LookupError) -> str:
    # str(KeyError("x")) is "'x'": the message is its argument.
    return str(exc.args[0]) if exc.args else "not found"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
