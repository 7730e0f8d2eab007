"""Summaries of benchmark runs: per (query, implementation) medians, ratios and a table.

``run_core.py`` collects one :class:`RunRecord` per child process; :func:`summarize` reduces
repeats to medians and computes the ratios the issue asks for (to the pure-Python loop and to
the fastest columnar implementation, the practical ceiling); :func:`markdown_table` renders them
so the output can be pasted into ``BENCHMARKS.md`` as is.
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASELINE = "python"
CEILING = ("numpy", "polars")


@dataclass
class RunRecord:
    """One child run: one implementation, one query, one repeat."""

    impl: str
    query: str
    repeat: int
    status: str  # "ok", "pending" (not implemented yet) or "error"
    events: int
    elapsed_s: float | None = None
    peak_rss_mib: float | None = None
    base_rss_mib: float | None = None
    late: int | None = None
    input_digest: str | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    detail: str = ""


@dataclass
class Summary:
    """Median over repeats for one (query, implementation)."""

    query: str
    impl: str
    status: str
    runs: int = 0
    elapsed_s: float | None = None
    events_per_s: float | None = None
    slowest_events_per_s: float | None = None
    fastest_events_per_s: float | None = None
    vs_python: float | None = None
    vs_ceiling: float | None = None
    peak_rss_mib: float | None = None
    base_rss_mib: float | None = None
    check: str = ""


def summarize(records: list[RunRecord], checks: dict[tuple[str, str], str]) -> list[Summary]:
    """Reduce records to one :class:`Summary` per (query, impl), in first-seen order.

    ``checks`` maps (query, impl) to the equality verdict shown in the table.
    """
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for rec in records:
        groups.setdefault((rec.query, rec.impl), []).append(rec)
    out = [_summary(query, impl, recs) for (query, impl), recs in groups.items()]
    speed = {(s.query, s.impl): s.events_per_s for s in out if s.events_per_s}
    for s in out:
        s.check = checks.get((s.query, s.impl), "")
        if not s.events_per_s:
            continue
        base = speed.get((s.query, BASELINE))
        ceiling = max((speed.get((s.query, c)) or 0.0 for c in CEILING), default=0.0)
        s.vs_python = s.events_per_s / base if base else None
        s.vs_ceiling = s.events_per_s / ceiling if ceiling else None
    return out


def _summary(query: str, impl: str, recs: list[RunRecord]) -> Summary:
    ok = [r for r in recs if r.status == "ok" and r.elapsed_s]
    if not ok:
        status = "error" if any(r.status == "error" for r in recs) else recs[0].status
        return Summary(query, impl, status, runs=len(recs))
    times = [r.elapsed_s for r in ok if r.elapsed_s]
    elapsed = statistics.median(times)
    return Summary(
        query,
        impl,
        "ok" if len(ok) == len(recs) else "error",
        runs=len(ok),
        elapsed_s=elapsed,
        events_per_s=ok[0].events / elapsed,
        slowest_events_per_s=ok[0].events / max(times),
        fastest_events_per_s=ok[0].events / min(times),
        peak_rss_mib=max(r.peak_rss_mib or 0.0 for r in ok),
        base_rss_mib=max(r.base_rss_mib or 0.0 for r in ok),
    )


def markdown_table(summaries: list[Summary]) -> str:
    """Render summaries as a Markdown table (one row per query and implementation)."""
    lines = [
        "| Query | Implementation | events/s | range over runs (events/s) | time (s) | vs python "
        "| vs columnar ceiling | peak RSS (MiB) | RSS before timing (MiB) | result check |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        if s.events_per_s is None:
            lines.append(f"| {s.query} | {s.impl} | {s.status} | | | | | | | |")
            continue
        lines.append(
            f"| {s.query} | {s.impl} | {s.events_per_s:,.0f} | {_range(s)} | {s.elapsed_s:.3f} "
            f"| {_ratio(s.vs_python)} | {_ratio(s.vs_ceiling)} | {s.peak_rss_mib:,.0f} "
            f"| {s.base_rss_mib:,.0f} | {s.check} |"
        )
    return "\n".join(lines)


def _range(s: Summary) -> str:
    if s.runs < 2 or s.slowest_events_per_s is None or s.fastest_events_per_s is None:
        return ""
    return f"{s.slowest_events_per_s:,.0f} - {s.fastest_events_per_s:,.0f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.3f}x"


def machine_info() -> dict[str, Any]:
    """Describe the machine the benchmark ran on."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
    }
    try:
        info["memory_gib"] = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        )
    except (ValueError, OSError, AttributeError):
        info["memory_gib"] = None
    return info


def _cpu_model() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return platform.processor() or None
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None
