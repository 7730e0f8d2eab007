"""A fake dashboard backend: fixed answers, records the actions it was asked for."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from streamgale.errors import ConfigError, MissingExtraError, StreamGaleError

PNG = b"\x89PNG\r\n\x1a\nfake"


class FakeBackend:
    """Implements DashboardBackend with canned data."""

    name = "fake"

    def __init__(self) -> None:
        self.released: list[str] = []
        self.discarded: list[str] = []
        self.queries: list[str] = []

    def graph(self) -> dict[str, Any]:
        return {
            "pipeline": "fake",
            "steps": [
                {"id": "in", "kind": "source", "inputs": []},
                {"id": "out", "kind": "sink", "inputs": ["in"]},
            ],
            "edges": [{"from": "in", "to": "out"}],
        }

    def steps(self) -> dict[str, Any]:
        return {"at": time.time(), "window_s": 5.0, "steps": [], "channels": [], "totals": {}}

    def results(self, limit: int) -> dict[str, Any]:
        return {"results": [{"result_id": f"r-{i}"} for i in range(min(limit, 3))]}

    def result(self, result_id: str) -> dict[str, Any]:
        if result_id != "r-1":
            raise KeyError(f"no result with id {result_id!r}")
        return {"result_id": "r-1", "score": float("nan")}

    def thumbnail(self, result_id: str) -> bytes:
        return PNG

    def quarantine(self, status: str | None, limit: int) -> dict[str, Any]:
        return {"counts": {}, "entries": [], "status": status, "limit": limit}

    def release(self, ids: Sequence[str]) -> dict[str, Any]:
        if "unknown" in ids:
            raise ConfigError("no quarantined input with id 'unknown'")
        self.released.extend(ids)
        return {"requested": len(ids)}

    def discard(self, ids: Sequence[str]) -> dict[str, Any]:
        self.discarded.extend(ids)
        return {"discarded": len(ids)}

    def destinations(self) -> dict[str, Any]:
        return {"destinations": []}

    def reports(self) -> dict[str, Any]:
        raise MissingExtraError("the dashboard's SQL console", "sql", "duckdb")

    def report(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if name == "boom":
            raise RuntimeError("a bug")
        return {"name": name, "params": dict(params)}

    def sql(self, query: str) -> dict[str, Any]:
        if query.startswith("DROP"):
            raise StreamGaleError("refused: the SQL console runs a single SELECT")
        self.queries.append(query)
        return {"columns": ["answer"], "rows": [[42]], "row_count": 1}

    def metrics(self) -> bytes:
        return b"# HELP fake_metric A metric.\nfake_metric 1.0\n"
