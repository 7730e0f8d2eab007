"""Streaming-core benchmark: queries A, B and C with every implementation, side by side.

Run from the repository root with the project venv::

    .venv/bin/python bench/run_core.py                      # 2,000,000 events, all queries
    .venv/bin/python bench/run_core.py --events 200000 --queries B,C --repeat 3 --json out.json

For each repeat, for each query, each implementation runs in its own child process
(``worker.py``), interleaved, so the runs share the machine's conditions and each peak RSS is
the run's own. Bytewax runs with the interpreter of ``.bench-venv``, created on first use. After
every run the result is compared with the first implementation's (the pure-Python loop): any
difference, any crash or any mismatch in the input fingerprint or late count is printed and
makes the exit status 1. StreamGale rows show "pending" until ``impl_streamgale`` is wired.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import check
import events
from bench_venv import ensure_bench_venv
from queries import QUERY_NAMES
from report import RunRecord, machine_info, markdown_table, summarize
from worker import IMPLEMENTATIONS

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "bench" / "worker.py"
DEFAULT_IMPLEMENTATIONS = (
    "python",
    "numpy",
    "polars",
    "bytewax",
    "streamgale",
    "streamgale-durable",
)
BENCH_VENV_IMPLEMENTATIONS = frozenset({"bytewax"})
"""Implementations that run with the bench venv's interpreter instead of the project's."""
_FAILED = ("MISMATCH", "ERROR")


def run_child(
    python: Path | str, impl: str, query: str, n: int, seed: int, repeat: int
) -> tuple[RunRecord, check.Canonical | None]:
    """Run one (implementation, query) in a fresh process; return its record and result."""
    env = dict(os.environ)
    # The package is not installed in the project venv; the StreamGale runs import it from src/.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    record = RunRecord(impl=impl, query=query, repeat=repeat, status="error", events=n)
    with tempfile.TemporaryDirectory(prefix="sg-bench-") as tmp:
        command = [str(python), str(WORKER), f"--impl={impl}", f"--query={query}"]
        command += [f"--events={n}", f"--seed={seed}", f"--out={tmp}"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        meta_path = Path(tmp) / "meta.json"
        if done.returncode != 0 or not meta_path.exists():
            record.detail = f"exit {done.returncode}: {done.stderr.strip()[-2000:]}"
            return record, None
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        for name in ("status", "elapsed_s", "peak_rss_mib", "base_rss_mib", "late"):
            setattr(record, name, meta.get(name))
        record.input_digest = meta.get("input_digest")
        record.versions = meta.get("versions", {})
        record.detail = meta.get("reason", "")
        result = check.load(Path(tmp) / "result.npz") if record.status == "ok" else None
    return record, result


def run_all(args: argparse.Namespace) -> tuple[list[RunRecord], dict[tuple[str, str], str]]:
    """Run every repeat x query x implementation, checking results as they come in."""
    interpreters = {impl: sys.executable for impl in args.impls}
    if BENCH_VENV_IMPLEMENTATIONS & set(args.impls):
        bench_python = ensure_bench_venv(ROOT)
        interpreters.update({impl: bench_python for impl in BENCH_VENV_IMPLEMENTATIONS})
    records: list[RunRecord] = []
    verdicts: dict[tuple[str, str], str] = {}
    for repeat in range(args.repeat):
        for query in args.queries:
            reference: tuple[RunRecord, check.Canonical] | None = None
            for impl in args.impls:
                record, result = run_child(
                    interpreters[impl], impl, query, args.events, args.seed, repeat
                )
                records.append(record)
                verdict = _verdict(query, record, result, reference)
                if reference is None and result is not None:
                    reference = (record, result)
                # Keep the worst verdict seen over the repeats.
                if not verdicts.get((query, impl), "").startswith(_FAILED):
                    verdicts[(query, impl)] = verdict
                _progress(record, verdict)
    return records, verdicts


def _verdict(
    query: str,
    record: RunRecord,
    result: check.Canonical | None,
    reference: tuple[RunRecord, check.Canonical] | None,
) -> str:
    if record.status != "ok" or result is None:
        return "pending" if record.status == "pending" else f"ERROR: {record.detail}"
    if reference is None:
        return "reference"
    ref_record, ref_result = reference
    problems = []
    if record.input_digest != ref_record.input_digest:
        problems.append(f"input digest {record.input_digest} != {ref_record.input_digest}")
    if record.late != ref_record.late:
        problems.append(f"late count {record.late} != {ref_record.late}")
    comparison = check.compare(query, ref_result, result)
    problems += comparison.problems
    if problems:
        return f"MISMATCH vs {ref_record.impl}: " + "; ".join(problems)
    if query == "B":
        return f"= {ref_record.impl} (sum rel diff {comparison.max_sum_rel_diff:.1e})"
    return f"= {ref_record.impl}"


def _progress(record: RunRecord, verdict: str) -> None:
    speed = f"{record.events / record.elapsed_s:>12,.0f} ev/s" if record.elapsed_s else " " * 17
    rss = f"{record.peak_rss_mib:7.0f} MiB" if record.peak_rss_mib else ""
    print(
        f"[{record.repeat}] {record.query} {record.impl:<10} {speed} {rss}  {verdict}",
        file=sys.stderr,
        flush=True,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=events.DEFAULT_EVENTS, help="events/run")
    parser.add_argument("--seed", type=int, default=events.DEFAULT_SEED)
    parser.add_argument("--queries", default=",".join(QUERY_NAMES), help="e.g. A,B,C")
    parser.add_argument(
        "--impls", default=",".join(DEFAULT_IMPLEMENTATIONS), help="comma-separated, in run order"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per pair; median reported")
    parser.add_argument("--json", type=Path, help="also write runs and summary to this file")
    parser.add_argument("--skip-bytewax", action="store_true", help="leave Bytewax out")
    args = parser.parse_args(argv)
    args.queries = [q.strip().upper() for q in args.queries.split(",") if q.strip()]
    args.impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    if args.skip_bytewax:
        args.impls = [i for i in args.impls if i != "bytewax"]
    unknown = [q for q in args.queries if q not in QUERY_NAMES]
    unknown += [i for i in args.impls if i not in IMPLEMENTATIONS]
    if unknown:
        parser.error(f"unknown {unknown}; queries are {QUERY_NAMES}, impls {list(IMPLEMENTATIONS)}")
    if args.events <= 0 or args.repeat <= 0:
        parser.error("--events and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, optionally write JSON; 1 if any check failed."""
    args = parse_args(argv)
    records, verdicts = run_all(args)
    summaries = summarize(records, verdicts)
    print(f"\n{args.events:,} events, seed {args.seed}, {args.repeat} run(s) per cell (median)")
    print(markdown_table(summaries))
    failed = sorted(f"{q} {i}: {v}" for (q, i), v in verdicts.items() if v.startswith(_FAILED))
    if args.json:
        payload = {
            "machine": machine_info(),
            "config": {k: v for k, v in vars(args).items() if k != "json"},
            "summary": [asdict(s) for s in summaries],
            "runs": [asdict(r) for r in records],
            "failures": failed,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
