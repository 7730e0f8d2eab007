"""Telemetry rows and span lookups shared by the tracing tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

STUDY_A = "1.2.826.0.1.3680043.8.498.1"
STUDY_B = "1.2.826.0.1.3680043.8.498.2"


def row(stage: str, ts: float, *, level: str = "instance", **columns: Any) -> dict[str, Any]:
    """One telemetry row as the recorder writes it."""
    return {
        "table": "telemetry",
        "pipeline": "radiology",
        "ts": ts,
        "stage": stage,
        "level": level,
        "step": columns.pop("step", "prepare"),
        "outcome": columns.pop("outcome", "ok"),
        **columns,
    }


def study_rows(study: str, t0: float, instances: int = 2) -> list[dict[str, Any]]:
    """Instances validated then inferred, then the study finalized."""
    rows = []
    for n in range(instances):
        uid = f"{study}.{n}"
        common = {"study_uid": study, "series_uid": f"{study}.100", "instance_uid": uid}
        rows.append(row("validated", t0 + n, duration_ms=2.0, since_received_ms=10.0, **common))
        rows.append(
            row(
                "inferred",
                t0 + n + 0.5,
                step="infer-demo",
                model="demo",
                model_version="1",
                duration_ms=40.0,
                **common,
            )
        )
    rows.append(
        row(
            "finalized",
            t0 + instances + 1,
            level="study",
            step="finalize",
            study_uid=study,
            duration_ms=100.0,
        )
    )
    return rows


def trace_id(study: str) -> int:
    return int.from_bytes(hashlib.sha256(study.encode()).digest()[:16], "big")


def by_trace(spans: Sequence[Any], study: str) -> list[Any]:
    return [s for s in spans if s.context.trace_id == trace_id(study)]


def roots(spans: Sequence[Any]) -> list[Any]:
    return [s for s in spans if s.parent is None]
