"""``streamgale run`` and ``streamgale validate``: a YAML pipeline, run or checked."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from streamgale import Runtime
from streamgale.cli.options import json_option, make_console, runtime_options, runtime_overrides
from streamgale.cli.radiology import describe_radiology, dicom_options, run_radiology
from streamgale.config import LoadedPipeline, load_file
from streamgale.dataflow import Pipeline
from streamgale.dataflow.steps import OperatorStep, SinkStep, SourceStep, Step, StreamRef
from streamgale.deadletter import DeadLetterStatus, DeadLetterStore

__all__ = ["describe_steps", "run", "validate"]

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command(short_help="Run a YAML pipeline until its sources end or Ctrl-C.")
@click.argument("file", type=_FILE)
@runtime_options
@dicom_options
def run(
    *,
    file: Path,
    state_dir: Path | None,
    metrics_port: int | None,
    checkpoint_interval: float | None,
    stop_after: float | None,
    dicom_port: int | None,
    ae_title: str | None,
    stow_port: int | None,
    dashboard_port: int | None,
) -> None:
    """Run the pipeline in FILE until its sources end, or Ctrl-C / SIGTERM.

    On Ctrl-C or SIGTERM the run drains what is in flight, commits, and
    exits; the next run with the same state directory resumes from there.
    Options (and their environment variables) beat the file's runtime section.

    \b
    Example:
      streamgale run examples/sensors.yaml --state-dir .streamgale/sensors
      streamgale run examples/radiology.yaml --dicom-port 11112
    """
    overrides = runtime_overrides(state_dir, metrics_port, checkpoint_interval, stop_after)
    overrides |= {
        "port": dicom_port,
        "ae_title": ae_title,
        "stow_port": stow_port,
        "dashboard_port": dashboard_port,
    }
    loaded = load_file(file, overrides=overrides)
    if not isinstance(loaded, LoadedPipeline):
        run_radiology(loaded)
        return
    runtime = Runtime(loaded.pipeline, loaded.runtime)
    _say_starting(loaded, runtime)
    started = time.monotonic()
    runtime.run()
    elapsed = time.monotonic() - started
    click.echo(f"pipeline '{loaded.pipeline.name}' stopped after {elapsed:.1f} s", err=True)
    _say_dead_letters(loaded)


def _say_starting(loaded: LoadedPipeline, runtime: Runtime) -> None:
    state_dir = loaded.runtime.state_dir
    where = f"state in {state_dir}" if state_dir else "no state directory: state is in memory"
    click.echo(
        f"running pipeline '{loaded.pipeline.name}' from {loaded.source} ({where}); "
        "Ctrl-C drains, commits and stops",
        err=True,
    )
    server = getattr(runtime.metrics, "server", None)
    if server is not None:
        click.echo(f"metrics: {getattr(server, 'url', server)}", err=True)


def _say_dead_letters(loaded: LoadedPipeline) -> None:
    state_dir = loaded.runtime.state_dir
    store_path = state_dir / "deadletters.sqlite" if state_dir else None
    if store_path is None or not store_path.exists():
        return
    store = DeadLetterStore(store_path)
    try:
        waiting = store.count(loaded.pipeline.name, DeadLetterStatus.NEW)
    finally:
        store.close()
    if waiting:
        click.echo(
            f"{waiting} dead letter(s) wait for a look: "
            f"streamgale dlq list --state-dir {state_dir} --pipeline {loaded.pipeline.name}",
            err=True,
        )


@click.command(short_help="Check a YAML pipeline and print its step graph.")
@click.argument("file", type=_FILE)
@runtime_options
@json_option()
def validate(
    *,
    file: Path,
    state_dir: Path | None,
    metrics_port: int | None,
    checkpoint_interval: float | None,
    stop_after: float | None,
    as_json: bool,
) -> None:
    """Check the pipeline in FILE and print its steps, without running it.

    Loading imports the user functions it names and builds every source
    and sink, so a file that validates is one that can start. The runtime
    settings shown are the ones 'run' would use with the same options.
    A radiology file shows its listeners, models, routes and destinations.

    \b
    Example:
      streamgale validate examples/sensors.yaml
      streamgale validate examples/radiology.yaml
    """
    overrides = runtime_overrides(state_dir, metrics_port, checkpoint_interval, stop_after)
    loaded = load_file(file, overrides=overrides)
    if not isinstance(loaded, LoadedPipeline):
        describe_radiology(file, loaded, as_json=as_json)
        return
    steps = describe_steps(loaded.pipeline)
    runtime = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(loaded.runtime).items()}
    if as_json:
        document = {"pipeline": loaded.pipeline.name, "steps": steps, "runtime": runtime}
        click.echo(json.dumps(document, indent=2))
        return
    table = Table(title=f"pipeline '{loaded.pipeline.name}' ({loaded.source})")
    for column in ("step", "kind", "reads", "outputs"):
        table.add_column(column, overflow="fold")
    for step in steps:
        table.add_row(
            step["id"], step["kind"], ", ".join(step["inputs"]), ", ".join(step["outputs"])
        )
    console = make_console()
    console.print(table)
    settings = ", ".join(f"{k}={v}" for k, v in runtime.items() if k != "handle_signals")
    console.print(f"runtime: {settings}", highlight=False)
    click.echo(f"OK: {file} is a valid pipeline with {len(steps)} steps")


def describe_steps(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Each step's id, kind, inputs and outputs, with side outputs as ``step.port``."""
    steps = pipeline.steps
    return [
        {
            "id": step.step_id,
            "kind": _kind(step),
            "inputs": [_port_name(steps, ref) for ref in _inputs(step)],
            "outputs": _outputs(step),
        }
        for step in steps.values()
    ]


def _kind(step: Step) -> str:
    if isinstance(step, SourceStep):
        return f"source ({type(step.source).__name__})"
    if isinstance(step, SinkStep):
        return f"sink ({type(step.sink).__name__})"
    return step.op


def _inputs(step: Step) -> tuple[StreamRef, ...]:
    if isinstance(step, OperatorStep):
        return step.upstreams
    if isinstance(step, SinkStep):
        return (step.upstream,)
    return ()


def _outputs(step: Step) -> list[str]:
    if isinstance(step, SinkStep):
        return []
    if isinstance(step, SourceStep):
        return [step.step_id]
    return [
        _port_name({step.step_id: step}, StreamRef(step.step_id, i)) for i in range(len(step.ports))
    ]


def _port_name(steps: dict[str, Step], ref: StreamRef) -> str:
    """``stats`` for a main output, ``stats.late`` or ``hot.true`` for the others."""
    step = steps.get(ref.step_id)
    if not isinstance(step, OperatorStep) or (ref.port == 0 and step.ports[0] == "out"):
        return ref.step_id
    return f"{ref.step_id}.{step.ports[ref.port]}"
