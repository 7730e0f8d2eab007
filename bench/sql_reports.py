"""Canned-report latency over a lake of 10 million telemetry rows (target: p95 under 1 s, 2 cores).

Builds (once, then reuses from the cache folder) a lake in the documented hive layout:
``--rows`` telemetry rows over 10 days, three pipelines with two routes each, six
lifecycle stages (received … finalized), ~1% of rows failed/quarantined/refused with a
handful of reasons, three Parquet files per (date, pipeline) partition (row groups of up
to 1M rows); plus ``--inferences`` inference rows (two models as arms a and b; b shadows a on 30% of
instances) and one result row per study.

Each canned report then runs ``--repeat`` times in each of these ways, interleaved:

* **cold**: a fresh :class:`~streamgale.sql.SqlEngine` per run (views created, lake globbed,
  connection locked down), then the report, rows converted to Python;
* **warm**: one engine, the report run again and again (what the dashboard does);
* **CLI**: ``streamgale report NAME --format json`` in-process through click (cold engine,
  plus JSON rendering);
* **raw DuckDB** (the peer): a fresh ``duckdb.connect()``, each table a plain
  ``read_parquet(..., hive_partitioning = true, union_by_name = true)`` view, the same SQL,
  fetched as Arrow (cold), and again on one connection (warm).

The ratio is StreamGale warm p50 over raw DuckDB warm p50: what the engine adds. The
target applies to the CLI column (the whole ``streamgale report`` path bar interpreter
start-up). The load average is printed: other work on the machine shows up as spread. Run::

    .venv/bin/python bench/sql_reports.py                      # 10M rows, 7 runs each
    .venv/bin/python bench/sql_reports.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from click.testing import CliRunner

from streamgale.cli.sql import report as report_command
from streamgale.lake.schemas import arrow_schema
from streamgale.sql import REPORTS, SqlEngine

DAYS = 10
START = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
PIPELINES = {"radiology": 0.7, "pathology": 0.15, "sensors": 0.15}
ROUTES = ("ct-chest", "mr-brain")
LIFECYCLE = ("received", "validated", "deidentified", "preprocessed", "inferred", "finalized")
STAGE_MS = (0.5, 2.0, 3.0, 15.0, 40.0, 5.0)
"""Median duration of each lifecycle stage (lognormal around it)."""
REASONS = {
    "failed": ("model timed out", "decoder crashed", "disk full"),
    "quarantined": ("no pixel data", "bad Study Instance UID", "unsupported transfer syntax"),
    "refused": ("calling AE not allowed",),
}
BAD_SHARE = {"failed": 0.005, "quarantined": 0.004, "refused": 0.001}
FILES_PER_PARTITION = 3
ROW_GROUP = 1_000_000
INSTANCES_PER_STUDY = 100


def study_uid(index: int) -> str:
    """The Study Instance UID of study ``index`` in the generated lake.

    >>> study_uid(7)
    '1.2.826.0.1.3680043.8.498.7'
    """
    return f"1.2.826.0.1.3680043.8.498.{index}"


def _uids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _pick(rng: np.random.Generator, values: tuple[str, ...], n: int, p: Any = None) -> pa.Array:
    idx = rng.choice(len(values), size=n, p=p)
    return pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), pa.array(values)).cast(
        pa.string()
    )


def telemetry_day(rng: np.random.Generator, day: int, rows: int, first: int) -> pa.Table:
    """One day of telemetry: ``rows`` rows, instances numbered from ``first``."""
    stages = len(LIFECYCLE)
    instances = rows // stages
    n = instances * stages
    arrival = np.sort(rng.uniform(0, 86_400e6, instances)).astype(np.int64)
    stage_idx = np.tile(np.arange(stages), instances)
    duration = rng.lognormal(np.log(np.array(STAGE_MS))[stage_idx], 0.5)
    since = np.cumsum(duration.reshape(instances, stages), axis=1).ravel()
    base_us = int((START + dt.timedelta(days=day)).timestamp() * 1e6)
    ts = base_us + np.repeat(arrival, stages) + (since * 1e3).astype(np.int64)
    ts = np.minimum(ts, base_us + 86_400_000_000 - 1)  # stay in the day's partition
    number = first + np.repeat(np.arange(instances), stages)
    pipeline_of_instance = rng.choice(len(PIPELINES), size=instances, p=list(PIPELINES.values()))
    route_of_instance = rng.integers(0, len(ROUTES), instances)
    outcome = np.full(n, "ok", dtype=object)
    stage = np.array(LIFECYCLE, dtype=object)[stage_idx]
    reason = np.full(n, None, dtype=object)
    draw = rng.random(n)
    edge = 0.0
    for kind, share in BAD_SHARE.items():
        bad = (draw >= edge) & (draw < edge + share)
        edge += share
        outcome[bad] = kind
        if kind != "refused":
            stage[bad] = kind
        reason[bad] = np.array(REASONS[kind], dtype=object)[
            rng.integers(0, len(REASONS[kind]), bad.sum())
        ]
    model = np.where(stage_idx == LIFECYCLE.index("inferred"), "lesion", None)
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "pipeline": pa.array(
                np.array(list(PIPELINES), dtype=object)[np.repeat(pipeline_of_instance, stages)]
            ),
            "route": pa.array(np.array(ROUTES, dtype=object)[np.repeat(route_of_instance, stages)]),
            "step": _pick(rng, ("ingest", "prepare", "infer-lesion", "finalize"), n),
            "stage": pa.array(stage, pa.string()),
            "level": pa.array(np.full(n, "instance", dtype=object)),
            "study_uid": _uids("1.2.826.0.1.3680043.8.498.", number // INSTANCES_PER_STUDY),
            "series_uid": _uids("1.2.826.0.1.3680043.8.499.", number // 50),
            "instance_uid": _uids("1.2.826.0.1.3680043.8.500.", number),
            "model": pa.array(model, pa.string()),
            "model_version": pa.array(np.where(model == "lesion", "1", None), pa.string()),
            "variant": pa.nulls(n, pa.string()),
            "duration_ms": pa.array(duration),
            "since_received_ms": pa.array(since),
            "size_bytes": pa.array(rng.integers(100_000, 600_000, n)),
            "outcome": pa.array(outcome, pa.string()),
            "reason": pa.array(reason, pa.string()),
        },
        schema=arrow_schema("telemetry"),
    )


def inferences_day(rng: np.random.Generator, day: int, rows: int, first: int) -> pa.Table:
    """One day of inferences: arm a on every instance, arm b shadowing 30% of them."""
    instances = int(rows / 1.3)
    shadow = rng.random(instances) < 0.3
    number = first + np.concatenate([np.arange(instances), np.flatnonzero(shadow)])
    n = len(number)
    variant = np.array(["a"] * instances + ["b"] * int(shadow.sum()), dtype=object)
    prob_a = rng.beta(2, 5, instances)
    prob_b = np.clip(prob_a[shadow] + rng.normal(0, 0.08, shadow.sum()), 0, 1)
    probability = np.concatenate([prob_a, prob_b])
    base_us = int((START + dt.timedelta(days=day)).timestamp() * 1e6)
    ts = base_us + rng.integers(0, 86_400_000_000, n)
    is_b = variant == "b"
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "pipeline": pa.array(np.full(n, "radiology", dtype=object)),
            "route": _pick(rng, ROUTES, n),
            "study_uid": _uids("1.2.826.0.1.3680043.8.498.", number // INSTANCES_PER_STUDY),
            "series_uid": _uids("1.2.826.0.1.3680043.8.499.", number // 50),
            "instance_uid": _uids("1.2.826.0.1.3680043.8.500.", number),
            "model": pa.array(np.where(is_b, "lesion-next", "lesion"), pa.string()),
            "model_version": pa.array(np.where(is_b, "2", "1"), pa.string()),
            "variant": pa.array(variant, pa.string()),
            "label": pa.array(np.full(n, "lesion", dtype=object), pa.string()),
            "probability": pa.array(probability),
            "present": pa.array(probability >= 0.5),
            "queue_ms": pa.array(rng.exponential(3.0, n)),
            "infer_ms": pa.array(rng.lognormal(np.log(np.where(is_b, 55.0, 40.0)), 0.3)),
            "delivered": pa.array(~is_b),
        },
        schema=arrow_schema("inferences"),
    )


def results_day(rng: np.random.Generator, day: int, studies: int, first: int) -> pa.Table:
    """One result row per study of the day."""
    base_us = int((START + dt.timedelta(days=day)).timestamp() * 1e6)
    probability = rng.beta(2, 5, studies)
    number = first + np.arange(studies)
    return pa.table(
        {
            "ts": pa.array(
                base_us + rng.integers(0, 86_400_000_000, studies), pa.timestamp("us", tz="UTC")
            ),
            "pipeline": pa.array(np.full(studies, "radiology", dtype=object), pa.string()),
            "route": _pick(rng, ROUTES, studies),
            "study_uid": _uids("1.2.826.0.1.3680043.8.498.", number),
            "result_id": _uids("r-", number),
            "model": pa.array(np.full(studies, "lesion", dtype=object), pa.string()),
            "model_version": pa.array(np.full(studies, "1", dtype=object), pa.string()),
            "variant": pa.array(np.full(studies, "a", dtype=object), pa.string()),
            "version": pa.array(np.ones(studies, dtype=np.int64)),
            "label": pa.array(np.full(studies, "lesion", dtype=object), pa.string()),
            "probability": pa.array(probability),
            "present": pa.array(probability >= 0.5),
            "instances": pa.array(np.full(studies, INSTANCES_PER_STUDY, dtype=np.int64)),
            "quarantined": pa.array(rng.integers(0, 2, studies)),
            "last_instance_to_result_ms": pa.array(rng.lognormal(np.log(900), 0.3, studies)),
            "total_ms": pa.array(rng.lognormal(np.log(30_000), 0.3, studies)),
            "sr_path": pa.nulls(studies, pa.string()),
            "seg_path": pa.nulls(studies, pa.string()),
            "delivered": pa.array(np.ones(studies, dtype=bool)),
        },
        schema=arrow_schema("results"),
    )


def write_partitioned(root: Path, table_name: str, day: int, table: pa.Table) -> int:
    """Write ``table`` (one day) as FILES_PER_PARTITION files per pipeline; the file count."""
    date = (START + dt.timedelta(days=day)).date().isoformat()
    files = 0
    for pipeline in pc.unique(table["pipeline"]).to_pylist():
        part = table.filter(pc.equal(table["pipeline"], pipeline))
        folder = root / table_name / f"date={date}" / f"pipeline={pipeline}"
        folder.mkdir(parents=True, exist_ok=True)
        size = -(-part.num_rows // FILES_PER_PARTITION)
        for i in range(FILES_PER_PARTITION):
            chunk = part.slice(i * size, size)
            if chunk.num_rows:
                pq.write_table(chunk, folder / f"part-{i:03d}.parquet", row_group_size=ROW_GROUP)
                files += 1
    return files


def build_lake(root: Path, rows: int, inference_rows: int) -> None:
    """Generate the lake under ``root`` unless a complete one is already there."""
    done = root / "_complete.json"
    if done.exists():
        return
    rng = np.random.default_rng(20240501)
    instances_per_day = rows // DAYS // len(LIFECYCLE)
    for day in range(DAYS):
        first = day * instances_per_day
        write_partitioned(root, "telemetry", day, telemetry_day(rng, day, rows // DAYS, first))
        write_partitioned(
            root, "inferences", day, inferences_day(rng, day, inference_rows // DAYS, first)
        )
        studies = instances_per_day // INSTANCES_PER_STUDY
        write_partitioned(
            root, "results", day, results_day(rng, day, studies, first // INSTANCES_PER_STUDY)
        )
        print(f"  generated day {day + 1}/{DAYS}", file=sys.stderr)
    done.write_text(json.dumps({"rows": rows, "inferences": inference_rows}))


def _ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000.0, out


def _raw_connection(root: Path) -> Any:
    """The peer: plain DuckDB, each table a view exactly as the design note writes it."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in ("telemetry", "inferences", "results"):
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet("
            f"'{root}/{table}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
        )
    return con


def _raw_query(con: Any, sql: str, params: dict[str, Any]) -> Any:
    relation = con.sql(sql, params=params)
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()


def measure(root: Path, name: str, params: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Latencies (ms) of one report in every way, ``repeat`` runs each, interleaved."""
    report = REPORTS[name]
    bound = report.bind(**params)
    times: dict[str, list[float]] = {k: [] for k in ("cold", "warm", "cli", "raw_cold", "raw_warm")}
    cli_args = [name, "--lake", str(root), "--format", "json"]
    cli_args += [a for k, v in params.items() for a in ("--param", f"{k}={v}")]
    runner = CliRunner()
    rows = 0
    with SqlEngine(root) as warm_engine:
        raw = _raw_connection(root)
        warm_engine.report(name, **params)  # first run of the warm engine pays the cold costs
        _raw_query(raw, report.sql, bound)
        for _ in range(repeat):

            def cold() -> int:
                with SqlEngine(root) as engine:
                    return len(engine.report(name, **params).rows)

            def raw_cold() -> int:
                con = _raw_connection(root)
                try:
                    return int(_raw_query(con, report.sql, bound).num_rows)
                finally:
                    con.close()

            ms, rows = _ms(cold)
            times["cold"].append(ms)
            times["raw_cold"].append(_ms(raw_cold)[0])
            times["warm"].append(_ms(lambda: warm_engine.report(name, **params))[0])
            times["raw_warm"].append(_ms(lambda: _raw_query(raw, report.sql, bound))[0])
            ms, result = _ms(lambda: runner.invoke(report_command, cli_args))
            if result.exit_code != 0:
                raise RuntimeError(f"CLI failed: {result.output}")
            times["cli"].append(ms)
        raw.close()
    return {"report": name, "rows": rows, **{k: _p50_p95(v) for k, v in times.items()}}


def _p50_p95(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = float(np.percentile(ordered, 95)) if len(ordered) > 1 else ordered[0]
    return statistics.median(ordered), p95


def markdown(results: list[dict[str, Any]]) -> str:
    """The results as a markdown table (ms, p50 / p95)."""
    head = (
        "| report | rows out | cold p50 / p95 | warm p50 / p95 | CLI p50 / p95 "
        "| raw DuckDB cold p50 / p95 | raw DuckDB warm p50 / p95 | warm / raw warm |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in results:
        cells = [
            f"{r[k][0]:.0f} / {r[k][1]:.0f}"
            for k in ("cold", "warm", "cli", "raw_cold", "raw_warm")
        ]
        ratio = r["warm"][0] / r["raw_warm"][0]
        lines.append(
            f"| {r['report']} | {r['rows']:,} | " + " | ".join(cells) + f" | {ratio:.2f}x |"
        )
    return "\n".join(lines)


def _machine(root: Path) -> str:
    sys.path.insert(0, str(Path(__file__).parent))
    from report import machine_info

    info = machine_info()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    files = list(root.glob("*/**/*.parquet"))
    size = sum(f.stat().st_size for f in files) / 2**20
    return (
        f"{info['cpu_model']}, {info['cpu_count']} cores, {info['memory_gib']} GiB; "
        f"{info['platform']}; Python {info['python']}, duckdb {duckdb.__version__}, "
        f"pyarrow {pa.__version__}; lake: {len(files)} files, {size:,.0f} MiB; "
        f"load average at the end {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="telemetry rows")
    parser.add_argument("--inferences", type=int, default=1_000_000, help="inference rows")
    parser.add_argument("--repeat", type=int, default=7, help="runs per report and way")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "streamgale-bench",
        help="folder for the generated lake (reused when complete)",
    )
    parser.add_argument("--reports", default=",".join(REPORTS), help="comma-separated names")
    args = parser.parse_args()
    root = args.cache / f"sql-lake-{args.rows}-{args.inferences}"
    print(f"lake: {root}", file=sys.stderr)
    build_lake(root, args.rows, args.inferences)
    # A study in the middle of the first day, whatever the scale.
    middle = args.rows // DAYS // len(LIFECYCLE) // INSTANCES_PER_STUDY // 2
    params: dict[str, dict[str, Any]] = {"study": {"study_uid": study_uid(middle)}}
    results = []
    for name in args.reports.split(","):
        results.append(measure(root, name, params.get(name, {}), args.repeat))
        print(f"  {name}: done", file=sys.stderr)
    print(f"Machine: {_machine(root)}\n")
    print(
        f"{args.rows:,} telemetry rows, {args.inferences:,} inference rows; "
        f"{args.repeat} runs of each; milliseconds.\n"
    )
    print(markdown(results))


if __name__ == "__main__":
    main()
