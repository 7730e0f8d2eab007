"""Child process of the benchmark: runs one query with one implementation and reports back.

Run by ``run_core.py`` as ``python bench/worker.py --impl NAME --query Q --events N --seed S
--out DIR`` (Bytewax with the bench venv's interpreter, the others with the project's). Each run
gets a fresh process so that its peak RSS is its own.

Steps: generate the events (deterministic, untimed); ``prepare`` them (untimed); time the query;
read the peak RSS right away; then, untimed, canonicalise the output and write
``DIR/result.npz`` and ``DIR/meta.json``. An implementation that raises ``NotImplementedError``
is reported with status ``pending`` instead of failing.

Only numpy and the standard library are imported here, so this runs in either venv.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import platform
import resource
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import check
import events
from queries import QUERY_NAMES, Implementation

IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "python": ("impl_python", "IMPLEMENTATION"),
    "numpy": ("impl_columnar", "NUMPY"),
    "polars": ("impl_polars", "POLARS"),
    "bytewax": ("impl_bytewax", "IMPLEMENTATION"),
    "streamgale": ("impl_streamgale", "IMPLEMENTATION"),
    "streamgale-durable": ("impl_streamgale", "DURABLE"),
}
"""Implementation name -> (module in bench/, attribute holding its ``Implementation``)."""


def load_implementation(name: str) -> Implementation:
    """Import and return the implementation registered as ``name``."""
    module_name, attribute = IMPLEMENTATIONS[name]
    impl = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(impl, Implementation):
        raise TypeError(f"{module_name}.{attribute} is {type(impl)!r}, not an Implementation")
    return impl


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 1024 / 1024


def run_one(impl_name: str, query: str, n_events: int, seed: int, out_dir: Path) -> dict[str, Any]:
    """Run one timed query and write its canonical result; return the metadata written."""
    meta: dict[str, Any] = {"impl": impl_name, "query": query, "events": n_events, "seed": seed}
    meta["python"] = platform.python_version()
    impl = load_implementation(impl_name)
    meta["versions"] = {lib: _version(lib) for lib in impl.libraries}
    columns = events.generate(n_events, seed)
    meta["input_digest"] = events.digest(columns)
    prepared = impl.prepare(columns)
    gc.collect()
    meta["base_rss_mib"] = peak_rss_mib()
    try:
        started = time.perf_counter()
        output = impl.queries[query](prepared)
        elapsed = time.perf_counter() - started
    except NotImplementedError as exc:
        meta.update(status="pending", reason=str(exc))
        return meta
    meta.update(status="ok", elapsed_s=elapsed, peak_rss_mib=peak_rss_mib(), late=output.late)
    del prepared
    check.save(out_dir / "result.npz", check.canonicalize(query, output.rows))
    return meta


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, write ``meta.json``; exit status 0 unless the run crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True, choices=sorted(IMPLEMENTATIONS))
    parser.add_argument("--query", required=True, choices=QUERY_NAMES)
    parser.add_argument("--events", type=int, default=events.DEFAULT_EVENTS)
    parser.add_argument("--seed", type=int, default=events.DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True, help="directory for the result files")
    args = parser.parse_args(argv)
    meta = run_one(args.impl, args.query, args.events, args.seed, args.out)
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
