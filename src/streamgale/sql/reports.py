"""Canned reports: named queries over the lake, run with ``streamgale report NAME``.

Percentiles are ``quantile_cont``: linear interpolation between the two
nearest ranks (the "type 7" definition of R and numpy's default), so the p95
of 1‥10 ms is 9.55 ms. Continuous quantiles do not jump from one sample to
the next as rows arrive, and they match what a notebook computes by default;
``quantile_disc`` would return an observed value instead.

Windows: ``minutes`` keeps the last N minutes *of data*, ending at the
newest row of the table, so a report on an idle or copied lake still shows
its last activity. ``minutes`` left unset means the whole lake (except for
``throughput``, whose default is the last 60 minutes).

Parameters reach DuckDB as prepared-statement values, never pasted into the
SQL, and are cast there, so the strings the CLI passes work as numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamgale.errors import ConfigError
from streamgale.lake.schemas import STAGES, TABLES

__all__ = ["REPORTS", "Param", "Report"]


@dataclass(frozen=True)
class Param:
    """A report parameter: its name, default (``None`` is SQL NULL) and meaning."""

    name: str
    default: Any = None
    help: str = ""
    required: bool = False


@dataclass(frozen=True)
class Report:
    """A named query over the lake's views, with ``$name`` parameters.

    >>> REPORTS["study"].bind(study_uid="1.2.3")
    {'study_uid': '1.2.3'}
    >>> REPORTS["throughput"].bind()
    {'minutes': 60}
    """

    name: str
    title: str
    description: str
    sql: str
    params: tuple[Param, ...] = ()

    def bind(self, **values: Any) -> dict[str, Any]:
        """Every parameter's value: ``values`` over the defaults; unknown or missing ones fail."""
        known = {p.name for p in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            accepted = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"report '{self.name}' has no parameter {', '.join(unknown)}; it takes: {accepted}",
                key=unknown[0],
            )
        # An empty value (``--param minutes=``) means NULL: "no limit" for a window.
        bound = {p.name: _null_if_empty(values.get(p.name, p.default)) for p in self.params}
        missing = [p.name for p in self.params if p.required and bound[p.name] is None]
        if missing:
            raise ConfigError(
                f"report '{self.name}' needs {', '.join(missing)}; "
                f"pass it with --param {missing[0]}=VALUE"
            )
        return bound


def _null_if_empty(value: Any) -> Any:
    return None if value == "" else value


def _stage_order(column: str = "stage") -> str:
    """Sorts stages in pipeline order; a stage outside the list is NULL (put it last)."""
    return "list_position([" + ", ".join(f"'{s}'" for s in STAGES) + f"], {column})"


def _window(table: str) -> str:
    """Keeps the last ``$minutes`` minutes of ``table``'s data; all of it when NULL.

    Written as ``NULL IS NULL OR …`` so that, without a window, DuckDB folds the
    filter away and skips the ``max(ts)`` scan.
    """
    return (
        f"(CAST($minutes AS BIGINT) IS NULL "
        f"OR ts >= (SELECT max(ts) FROM {table}) - to_minutes(CAST($minutes AS BIGINT)))"
    )


_MINUTES = Param("minutes", None, "only the last N minutes of data (default: all)")

_STAGE_LATENCY = f"""
WITH q AS (
    SELECT pipeline, route, stage, count(*) AS count,
           quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS d,
           quantile_cont(since_received_ms, [0.5, 0.95, 0.99]) AS s
    FROM telemetry
    WHERE outcome = 'ok' AND {_window("telemetry")}
    GROUP BY pipeline, route, stage
)
SELECT pipeline, route, stage, count,
       d[1] AS duration_p50_ms, d[2] AS duration_p95_ms, d[3] AS duration_p99_ms,
       s[1] AS since_received_p50_ms, s[2] AS since_received_p95_ms,
       s[3] AS since_received_p99_ms
FROM q
ORDER BY pipeline, route NULLS FIRST, {_stage_order()} NULLS LAST, stage
"""

_THROUGHPUT = f"""
SELECT date_trunc('minute', ts) AS minute, pipeline, stage, count(*) AS rows
FROM telemetry
WHERE (CAST($minutes AS BIGINT) IS NULL
       OR ts >= (SELECT date_trunc('minute', max(ts)) FROM telemetry)
                - to_minutes(CAST($minutes AS BIGINT) - 1))
GROUP BY minute, pipeline, stage
ORDER BY minute, pipeline, {_stage_order()} NULLS LAST, stage
"""

# Counts and reasons are two scans rather than one shared CTE: a CTE read twice is
# materialised, and copying 10M rows costs more than reading the columns again.
_ERRORS = f"""
WITH counts AS (
    SELECT pipeline, stage, count(*) AS rows,
           count(*) FILTER (WHERE outcome = 'failed') AS failed,
           count(*) FILTER (WHERE outcome = 'quarantined') AS quarantined,
           count(*) FILTER (WHERE outcome = 'refused') AS refused
    FROM telemetry WHERE {_window("telemetry")}
    GROUP BY pipeline, stage
),
reasons AS (
    SELECT pipeline, stage, reason, n,
           row_number() OVER (PARTITION BY pipeline, stage ORDER BY n DESC, reason) AS rank
    FROM (
        SELECT pipeline, stage, coalesce(reason, '(no reason)') AS reason, count(*) AS n
        FROM telemetry WHERE outcome <> 'ok' AND {_window("telemetry")}
        GROUP BY pipeline, stage, 3
    )
),
top AS (
    SELECT pipeline, stage,
           string_agg(reason || ' (' || n || ')', '; ' ORDER BY n DESC, reason) AS top_reasons
    FROM reasons WHERE rank <= 5 GROUP BY pipeline, stage
)
SELECT c.pipeline, c.stage, c.rows, c.failed, c.quarantined, c.refused,
       c.failed / c.rows AS failed_rate,
       c.quarantined / c.rows AS quarantined_rate,
       c.refused / c.rows AS refused_rate,
       (c.failed + c.quarantined + c.refused) / nullif(
           sum(c.rows) FILTER (WHERE c.stage = 'received') OVER (PARTITION BY c.pipeline), 0
       ) AS not_ok_per_received,
       t.top_reasons
FROM counts c
LEFT JOIN top t ON t.pipeline = c.pipeline AND t.stage = c.stage
ORDER BY c.pipeline, {_stage_order("c.stage")} NULLS LAST, c.stage
"""

_SAME_GROUP = (
    "p.pipeline = arms.pipeline AND p.route IS NOT DISTINCT FROM arms.route "
    "AND p.label IS NOT DISTINCT FROM arms.label"
)

# One answer per instance and arm (the latest: an instance replayed through a model counts
# once), gathered in one group-by per instance instead of a self-join of the two arms.
_AB = f"""
WITH arms AS (
    SELECT pipeline, route, label, variant, model, model_version, count(*) AS instances,
           quantile_cont(queue_ms + infer_ms, [0.5, 0.95]) AS latency,
           avg(probability) AS mean_probability,
           avg(CAST(present AS DOUBLE)) AS positive_rate,
           bool_or(delivered) AS delivered
    FROM inferences WHERE {_window("inferences")}
    GROUP BY pipeline, route, label, variant, model, model_version
),
per_instance AS (
    SELECT pipeline, route, label,
           bool_or(variant = 'a') AND bool_or(variant = 'b') AS both_arms,
           arg_max(present, ts) FILTER (WHERE variant = 'a') AS a_present,
           arg_max(present, ts) FILTER (WHERE variant = 'b') AS b_present,
           arg_max(probability, ts) FILTER (WHERE variant = 'a') AS a_probability,
           arg_max(probability, ts) FILTER (WHERE variant = 'b') AS b_probability
    FROM inferences WHERE variant IN ('a', 'b') AND {_window("inferences")}
    GROUP BY pipeline, route, label, instance_uid
),
pairs AS (
    SELECT pipeline, route, label, count(*) AS paired,
           avg(CAST(a_present = b_present AS DOUBLE)) AS agreement,
           avg(abs(a_probability - b_probability)) AS mean_abs_probability_diff
    FROM per_instance WHERE both_arms
    GROUP BY pipeline, route, label
)
SELECT arms.pipeline, arms.route, arms.label, arms.variant, arms.model, arms.model_version,
       arms.instances, arms.latency[1] AS latency_p50_ms, arms.latency[2] AS latency_p95_ms,
       arms.mean_probability, arms.positive_rate, arms.delivered,
       coalesce(p.paired, 0) AS paired, p.agreement, p.mean_abs_probability_diff
FROM arms
LEFT JOIN pairs p ON arms.variant IN ('a', 'b') AND {_SAME_GROUP}
ORDER BY arms.pipeline, arms.route NULLS FIRST, arms.label, arms.variant NULLS FIRST,
         arms.model, arms.model_version
"""

_STUDY = f"""
SELECT {", ".join(TABLES["telemetry"].column_names())}
FROM telemetry
WHERE study_uid = $study_uid
ORDER BY ts, {_stage_order()} NULLS LAST, instance_uid NULLS FIRST
"""

_RESULTS = """
SELECT ts, pipeline, route, study_uid, model, model_version, variant, version, label,
       present, probability, last_instance_to_result_ms
FROM results
ORDER BY ts DESC, study_uid, version DESC
LIMIT CAST($limit AS BIGINT)
"""


def _reports(*reports: Report) -> Mapping[str, Report]:
    return {r.name: r for r in reports}


REPORTS: Mapping[str, Report] = _reports(
    Report(
        "stage-latency",
        "Latency per stage and route",
        "p50/p95/p99 of each stage's duration and of the time since arrival, per pipeline, "
        "route and stage (telemetry rows with outcome 'ok')",
        _STAGE_LATENCY,
        (_MINUTES,),
    ),
    Report(
        "throughput",
        "Throughput per minute",
        "telemetry rows per minute, per pipeline and stage ('received' is records in)",
        _THROUGHPUT,
        (Param("minutes", 60, "the last N minutes of data; empty for all"),),
    ),
    Report(
        "errors",
        "Failures, quarantines and refusals",
        "per pipeline and stage: rows, failed, quarantined and refused counts and rates, "
        "not-ok rows per received record, and the top five reasons",
        _ERRORS,
        (_MINUTES,),
    ),
    Report(
        "ab",
        "Model A/B comparison",
        "per route, label and arm: instances, latency p50/p95 (queue + inference), mean "
        "probability, positive rate; agreement and mean |probability difference| over the "
        "instances both arms answered",
        _AB,
        (_MINUTES,),
    ),
    Report(
        "study",
        "One study's timeline",
        "every telemetry row of one study, in time order",
        _STUDY,
        (Param("study_uid", None, "Study Instance UID", required=True),),
    ),
    Report(
        "results",
        "Latest results",
        "the newest study results: model, arm, version, finding and the time to result",
        _RESULTS,
        (Param("limit", 100, "how many rows"),),
    ),
)
"""Every canned report by name, in the order ``streamgale report --list`` shows them."""
