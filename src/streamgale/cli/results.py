"""``streamgale results``: list AI results per study, and show one.

Results live in ``<state-dir>/results/`` (:class:`~streamgale.dicom.results.store.ResultStore`):
a JSON record per result version, with its DICOM SR and SEG files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from streamgale.cli.options import json_option, make_console, state_dir_option
from streamgale.errors import DicomError

if TYPE_CHECKING:
    from streamgale.dicom.results.store import ResultStore

__all__ = ["results"]

_STATE_DIR_HELP = "State directory of the pipeline, holding results/."


@click.group(short_help="List AI results per study and show one.")
def results() -> None:
    """List and show AI results: findings per study, with their SR and SEG files.

    \b
    Example:
      streamgale results list --state-dir .streamgale
      streamgale results list --study 1.2.826.0.1.3680043.8.498.1 --json
      streamgale results show r-3f2a... --json
    """


def _open(state_dir: Path) -> ResultStore:
    from streamgale.dicom.results.store import ResultStore

    path = state_dir / "results"
    if not (path / "index.sqlite").is_file():
        raise DicomError(
            f"no results at {path}; point at the pipeline's state directory with "
            "--state-dir DIR or STREAMGALE_STATE_DIR"
        )
    return ResultStore(path)


@results.command("list")
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@click.option("--study", "study_uid", help="Only this Study Instance UID (all its versions).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option()
def list_results(*, state_dir: Path, study_uid: str | None, limit: int, as_json: bool) -> None:
    """List results, newest first: study, version, model, findings present.

    \b
    Example:
      streamgale results list --limit 10
      streamgale results list --json | jq '.[] | select(.present != [])'
    """
    store = _open(state_dir)
    try:
        rows = store.list(study_instance_uid=study_uid, limit=limit)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"no results match (store: {state_dir / 'results'})")
        return
    table = Table(title="AI results")
    # The id is what `results show` needs: never cut, whatever the terminal's width.
    widest = max(len(r.result_id) for r in rows)
    table.add_column("result", no_wrap=True, min_width=widest)
    table.add_column("study", overflow="fold")
    for col in ("version", "model", "present", "created"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.result_id,
            r.study_instance_uid,
            str(r.version),
            f"{r.model} {r.model_version}",
            r.present or "-",
            r.created_at,
        )
    make_console().print(table)


@results.command("show")
@click.argument("result_id", metavar="RESULT_ID")
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@json_option("Print the result record as JSON.")
def show(*, result_id: str, state_dir: Path, as_json: bool) -> None:
    """Show one result: findings, measurements, timings and its SR/SEG files.

    \b
    Example:
      streamgale results show r-3f2a...
    """
    store = _open(state_dir)
    try:
        stored = store.get(result_id)
    finally:
        store.close()
    record = stored.load()
    if as_json:
        click.echo(json.dumps({**stored.to_json(), "record": record.to_dict()}, indent=2))
        return
    click.echo(f"result {record.result_id} (version {record.version}) of study")
    click.echo(f"  {record.study_instance_uid}")
    click.echo(f"model: {record.model_name} {record.model_version}")
    for finding in record.findings:
        verdict = "PRESENT" if finding.present else "absent"
        click.echo(f"  {finding.label}: {verdict} (p={finding.probability:.3f})")
        for m in finding.measurements.values():
            click.echo(f"    {m.name}: {m.value:.1f} {m.unit}")
    if record.timings:
        stages = ", ".join(f"{k} {v:.1f} ms" for k, v in record.timings.items())
        click.echo(f"timings: {stages}")
    click.echo(
        f"SR: {stored.sr_path or '-'}\nSEG: {stored.seg_path or '-'}\nJSON: {stored.json_path}"
    )
