"""``streamgale demo sensors``: streaming aggregation over generated sensor events.

A producer thread generates temperature readings from a fleet of sensors and
appends them to the embedded durable log, as an edge gateway would. At the
same time a pipeline reads the log, cuts per-sensor one-minute event-time
windows (with readings up to 5 s out of order), computes count, mean and
peak, raises alerts for overheating sensors, and puts readings that arrive
too late on a side output. Everything lands under the state directory, and a
summary is printed at the end.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from streamgale.batch import ColumnBatch
from streamgale.connectors.files.jsonl import JsonLinesSink
from streamgale.connectors.log import LogSource
from streamgale.dataflow import Pipeline
from streamgale.log import FsyncPolicy, SegmentLog
from streamgale.runtime.config import RuntimeConfig
from streamgale.runtime.runner import Runtime
from streamgale.windowing import Count, EventClock, Max, Mean, TumblingWindow

__all__ = ["DemoConfig", "build_pipeline", "main"]

_TOPIC = "readings"
_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: fixed, so runs are reproducible
_ALERT_CELSIUS = 80.0


@dataclass(frozen=True)
class DemoConfig:
    events: int = 200_000
    sensors: int = 50
    rate: float = 500.0
    """Simulated readings per second of event time."""
    batch: int = 2_000
    state_dir: Path | None = None
    seed: int = 2026
    ingest_seconds: float = 3.0
    """Wall time over which ingest is spread, so the run looks like a live stream."""


def build_pipeline(log: SegmentLog, out_dir: Path) -> Pipeline:
    """Readings from the log -> per-sensor 1-minute windows -> files; alerts aside."""
    p = Pipeline("sensors")
    windows = (
        p.source("readings", LogSource(log, _TOPIC))
        .key_by("by_sensor", "sensor")
        .window(TumblingWindow(60.0), EventClock("ts", max_delay=5.0, idle_timeout=3600.0))
        .aggregate("per_minute", readings=Count(), mean_c=Mean("celsius"), peak_c=Max("celsius"))
    )
    windows.results.sink("windows", JsonLinesSink(out_dir / "windows.jsonl"))
    windows.results.filter("overheating", _is_overheating).sink(
        "alerts", JsonLinesSink(out_dir / "alerts.jsonl")
    )
    windows.late.sink("late", JsonLinesSink(out_dir / "late.jsonl"))
    return p


def _is_overheating(row: dict[str, Any]) -> bool:
    return bool(row["peak_c"] >= _ALERT_CELSIUS)


def generate(cfg: DemoConfig) -> Iterator[ColumnBatch]:
    """Deterministic readings: a few sensors overheat now and then; some arrive late."""
    rng = np.random.default_rng(cfg.seed)
    baseline = rng.uniform(18.0, 35.0, cfg.sensors)
    for start in range(0, cfg.events, cfg.batch):
        n = min(cfg.batch, cfg.events - start)
        index = np.arange(start, start + n)
        sensor = rng.integers(0, cfg.sensors, n)
        ts = _START + index / cfg.rate - rng.uniform(0.0, 5.0, n)
        celsius = baseline[sensor] + rng.normal(0.0, 1.5, n)
        spikes = rng.random(n) < 0.0005
        celsius[spikes] += rng.uniform(45.0, 70.0, int(spikes.sum()))
        # A handful of readings come in two minutes late: they go to the side output.
        late = rng.random(n) < 0.0002
        ts[late] -= 120.0
        names = np.char.add("sensor-", np.char.zfill(sensor.astype("U3"), 3))
        yield ColumnBatch({"sensor": names, "ts": ts, "celsius": celsius.round(2)})


def main(
    events: int = 200_000,
    state_dir: Path | None = None,
    console: Console | None = None,
    keep: bool = False,
) -> int:
    """Run the demo and print its results; returns a process exit code.

    Without ``state_dir`` it works in a new temporary folder, removed at the
    end unless ``keep``. Ctrl-C (SIGINT) stops it at once: the runtime drains
    and commits, and the producer stops appending.
    """
    console = console or Console()
    cfg = DemoConfig(events=events, state_dir=state_dir)
    temporary = state_dir is None
    root = state_dir or Path(tempfile.mkdtemp(prefix="streamgale-sensors-"))
    try:
        _run(console, cfg, root)
    finally:
        if temporary and not keep:
            shutil.rmtree(root, ignore_errors=True)
            console.print(f"Removed {root} (--keep keeps the demo's files).")
    return 0


def _run(console: Console, cfg: DemoConfig, root: Path) -> None:
    events = cfg.events
    out_dir = root / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    log = SegmentLog(root / "log", fsync=FsyncPolicy.INTERVAL)
    log.create_topic(_TOPIC, 1)
    runtime = Runtime(
        build_pipeline(log, out_dir),
        RuntimeConfig(state_dir=root / "state", checkpoint_interval=0.5, metrics_port=0),
    )
    console.print(
        f"[bold]StreamGale sensors demo[/]: {events:,} readings from {cfg.sensors} sensors"
    )
    if runtime.metrics.server is not None:
        console.print(f"Prometheus metrics: {runtime.metrics.server.url}")
    stopped = threading.Event()
    producer = threading.Thread(
        target=_produce, args=(cfg, log, runtime, console, stopped), daemon=True
    )
    started = time.perf_counter()
    producer.start()
    try:
        runtime.run()  # returns when the producer is done, or on Ctrl-C / SIGTERM
    finally:
        stopped.set()
        producer.join()
        log.close()
    elapsed = time.perf_counter() - started
    _report(console, root, out_dir, events, elapsed)


def _produce(
    cfg: DemoConfig,
    log: SegmentLog,
    runtime: Runtime,
    console: Console,
    stopped: threading.Event,
) -> None:
    """Append readings to the log with a progress bar, then stop the runtime once
    it has consumed everything (the last window stays open, as in production).

    ``stopped`` is set when the runtime ended first (Ctrl-C): then it stops at once.
    """
    try:
        pause = cfg.ingest_seconds * cfg.batch / max(cfg.events, 1)
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("ingesting into the durable log", total=cfg.events)
            for batch in generate(cfg):
                if stopped.is_set():
                    return
                log.append(_TOPIC, 0, [batch.to_bytes()])
                runtime.wake.set()
                progress.advance(task, len(batch))
                stopped.wait(pause)
        end = log.end_offset(_TOPIC, 0)
        while (log.committed("readings", _TOPIC, 0) or 0) < end and not stopped.wait(0.05):
            pass
    finally:
        runtime.stop()


def _report(console: Console, root: Path, out_dir: Path, events: int, elapsed: float) -> None:
    windows = _read_jsonl(out_dir / "windows.jsonl")
    alerts = _read_jsonl(out_dir / "alerts.jsonl")
    late = _read_jsonl(out_dir / "late.jsonl")
    table = Table(title="Closed one-minute windows (all sensors)")
    for col in ("window (UTC)", "sensors", "readings", "mean °C", "hottest sensor", "peak °C"):
        table.add_column(col)
    for start, rows in _by_window(windows).items():
        hottest = max(rows, key=lambda r: r["peak_c"])
        n = sum(r["readings"] for r in rows)
        mean = sum(r["mean_c"] * r["readings"] for r in rows) / n
        table.add_row(
            time.strftime("%H:%M", time.gmtime(start)),
            str(len(rows)),
            f"{n:,}",
            f"{mean:.1f}",
            hottest["key"],
            f"{hottest['peak_c']:.1f}",
        )
    console.print(table)
    console.print(
        "The newest minute is still open: it closes when later readings move the watermark."
    )
    console.print(f"[red]{len(alerts)} overheating alerts[/] (peak >= {_ALERT_CELSIUS:.0f} °C):")
    for alert in alerts[:5]:
        when = time.strftime("%H:%M", time.gmtime(alert["window_start"]))
        console.print(f"  {alert['key']} at {when}: peak {alert['peak_c']:.1f} °C")
    console.print(f"{len(late)} readings arrived too late for their window (side output).")
    console.print(
        f"{events:,} readings streamed in {elapsed:.1f} s with the durable log and checkpoints "
        "on (ingest is paced to look live; BENCHMARKS.md has the throughput)."
    )
    console.print(f"Log: {root / 'log'}\nResults: {out_dir}\nState: {root / 'state'}")


def _by_window(rows: list[dict[str, Any]]) -> dict[float, list[dict[str, Any]]]:
    grouped: dict[float, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["window_start"], []).append(row)
    return dict(sorted(grouped.items()))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
