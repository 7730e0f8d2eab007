"""``streamgale quarantine``: list, show, release and discard quarantined inputs.

The store is ``<state-dir>/quarantine/`` (an SQLite index in WAL mode and the
kept files), shared by the pipelines that run with that state directory.
These commands work while a pipeline runs: release only marks entries, and
the pipeline itself re-ingests them, so nothing here touches its log.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from streamgale.cli.options import found_stores_hint, json_option, make_console, state_dir_option
from streamgale.dicom.quality.quarantine import (
    INDEX_FILE,
    QuarantineEntry,
    QuarantineError,
    QuarantineStage,
    QuarantineStatus,
    QuarantineStore,
)
from streamgale.errors import InvalidInstanceError, MissingExtraError

if TYPE_CHECKING:
    from streamgale.dicom.quality.summary import InstanceSummary

__all__ = ["STORE_DIR", "open_store", "quarantine"]

STORE_DIR = "quarantine"
_STATE_DIR_HELP = "State directory of the pipeline, holding quarantine/."


@click.group(short_help="List, show, release and discard quarantined inputs.")
def quarantine() -> None:
    """Act on quarantined inputs: instances the pipeline could not process.

    An input that fails validation, decoding, de-identification, inference
    or delivery is never dropped: it is kept here with its original bytes
    and the reason. Fix the cause (a sender's configuration, a missing
    codec, a model bug), then release it to be ingested again, or discard it.

    \b
    Example:
      streamgale quarantine list --status quarantined --stage validation
      streamgale quarantine show 3f9c2a7b1d4e8f60
      streamgale quarantine release 3f9c2a7b1d4e8f60
      streamgale quarantine discard 3f9c2a7b1d4e8f60 --yes
    """


def open_store(state_dir: Path) -> QuarantineStore:
    """The store in ``state_dir``; a clear error (and no new file) when there is none."""
    directory = state_dir / STORE_DIR
    if not (directory / INDEX_FILE).is_file():
        hint = found_stores_hint(state_dir, f"{STORE_DIR}/{INDEX_FILE}")
        raise QuarantineError(
            f"no quarantine store at {directory}; point at the pipeline's state directory "
            f"with --state-dir DIR or STREAMGALE_STATE_DIR{hint}"
        )
    return QuarantineStore(directory)


@quarantine.command("list")
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@click.option(
    "--status",
    type=click.Choice([s.value for s in QuarantineStatus]),
    help="Only entries in this state.",
)
@click.option(
    "--stage",
    type=click.Choice([s.value for s in QuarantineStage]),
    help="Only entries of this pipeline stage.",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option()
def list_entries(
    *, state_dir: Path, status: str | None, stage: str | None, limit: int, as_json: bool
) -> None:
    """List quarantined inputs, oldest first.

    \b
    Example:
      streamgale quarantine list --status quarantined
      streamgale quarantine list --stage validation --json | jq -r '.[].reason'
    """
    store = open_store(state_dir)
    try:
        entries = store.list(status, stage, limit=limit)
        counts = store.counts()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([entry.to_json() for entry in entries], indent=2))
        return
    if entries:
        make_console().print(_table(entries))
    else:
        click.echo(f"no quarantined inputs match (store: {state_dir / STORE_DIR})")
    if len(entries) == limit:
        click.echo(f"showing the first {limit}; use --limit to see more")
    click.echo("in the store: " + ", ".join(f"{n} {status}" for status, n in counts.items()))


def _table(entries: list[QuarantineEntry]) -> Table:
    table = Table()
    for name in ("id", "when", "source", "stage", "status"):
        table.add_column(name, no_wrap=True)
    table.add_column("SOP Instance UID", max_width=40, overflow="ellipsis", no_wrap=True)
    table.add_column("reason", max_width=70, overflow="ellipsis", no_wrap=True)
    for entry in entries:
        cells = (
            entry.id,
            _when(entry.quarantined_at),
            entry.source.value,
            entry.stage.value,
            entry.status.value,
            entry.sop_instance_uid or "-",
            entry.reason,
        )
        # Text, not str: a reason quoting "[x]" must not be read as rich markup.
        table.add_row(*(Text(cell) for cell in cells))
    return table


@quarantine.command("show", short_help="Show one quarantined input in full.")
@click.argument("entry_id", metavar="ID")
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@click.option(
    "--save",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the kept bytes to this file (e.g. to run dcmdump on it).",
)
@json_option("Print JSON, with the DICOM summary under 'dicom'.")
def show(*, entry_id: str, state_dir: Path, save: Path | None, as_json: bool) -> None:
    """Show one quarantined input: why, where from, and what the kept bytes are.

    \b
    Example:
      streamgale quarantine show 3f9c2a7b1d4e8f60
      streamgale quarantine show 3f9c2a7b1d4e8f60 --save /tmp/input.dcm && dcmdump /tmp/input.dcm
    """
    store = open_store(state_dir)
    try:
        entry = store.get(entry_id)
        data, missing = _kept_bytes(store, entry)
    finally:
        store.close()
    summary, problem = _summary(data) if data is not None else (None, missing)
    if save is not None and data is not None:
        save.write_bytes(data)
    if as_json:
        dicom = summary.to_json() if summary is not None else None
        document = {**entry.to_json(), "dicom": dicom, "dicom_error": problem}
        click.echo(json.dumps(document, indent=2))
        return
    _print_entry(entry, summary, problem)
    if save is not None:
        click.echo(f"saved the kept bytes to {save}" if data is not None else "nothing to save")


def _print_entry(
    entry: QuarantineEntry, summary: InstanceSummary | None, problem: str | None
) -> None:
    fields = {
        "status": entry.status.value,
        "when": _when(entry.quarantined_at),
        "source": entry.source.value,
        "stage": entry.stage.value,
        "reason": entry.reason,
        "SOP Instance UID": entry.sop_instance_uid or "-",
        "Study Instance UID": entry.study_instance_uid or "-",
        "size": f"{entry.size} bytes, sha256 {entry.sha256}",
    }
    if entry.released_at is not None:
        fields["released"] = _when(entry.released_at)
    click.echo(f"quarantined input {entry.id}")
    for name, value in fields.items():
        click.echo(f"  {name + ':':<20}{value}")
    click.echo("kept bytes:")
    if summary is None:
        click.echo(f"  {problem}")
        return
    frames = f", {summary.frames} frames" if summary.frames else ""
    described: dict[str, str | None] = {
        "SOP class": f"{summary.sop_class_name} ({summary.sop_class_uid})",
        "modality": summary.modality,
        "study": summary.study_instance_uid,
        "series": summary.series_instance_uid,
        "image": f"{summary.rows} x {summary.columns}{frames}",
        "transfer syntax": summary.transfer_syntax,
    }
    for name, text in described.items():
        click.echo(f"  {name + ':':<20}{text if text is not None else '-'}")


def _kept_bytes(store: QuarantineStore, entry: QuarantineEntry) -> tuple[bytes | None, str]:
    if entry.status is QuarantineStatus.DISCARDED:
        return None, "discarded: the bytes were deleted"
    try:
        return store.read_bytes(entry.id), ""
    except QuarantineError as exc:  # the file was removed behind the store's back
        return None, str(exc)


def _summary(data: bytes) -> tuple[InstanceSummary | None, str | None]:
    try:
        from streamgale.dicom.quality.summary import summarize

        return summarize(data), None
    except (InvalidInstanceError, MissingExtraError) as exc:
        return None, str(exc)


@quarantine.command("release", short_help="Mark quarantined inputs to be ingested again.")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@json_option("Print the result as JSON.")
def release(*, ids: tuple[str, ...], state_dir: Path, as_json: bool) -> None:
    """Mark quarantined inputs for release: the pipeline ingests them again.

    The pipeline does the re-ingest: while it runs it takes marked entries
    (and, if it is stopped, its next run with the same state directory
    does). An input that fails again is quarantined again, as a new entry.

    \b
    Example:
      streamgale quarantine release 3f9c2a7b1d4e8f60 a1b2c3d4e5f60718
      streamgale quarantine list --status quarantined --json | jq -r '.[].id' \\
        | xargs streamgale quarantine release
    """
    store = open_store(state_dir)
    try:
        marked = store.request_release(ids)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"marked": marked, "ids": list(ids), "state_dir": str(state_dir)}))
        return
    click.echo(f"marked {marked} quarantined input(s) for release: {', '.join(ids)}")
    if marked < len(ids):
        click.echo(
            f"{len(ids) - marked} were not in state 'quarantined' (already marked, released "
            "or discarded) and were left as they are"
        )
    if marked:
        click.echo(
            "The running pipeline re-ingests them; if it is stopped, its next run with "
            f"--state-dir {state_dir} does."
        )


@quarantine.command("discard", short_help="Delete the kept bytes of quarantined inputs.")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@json_option("Print the result as JSON.")
def discard(*, ids: tuple[str, ...], yes: bool, state_dir: Path, as_json: bool) -> None:
    """Delete the kept bytes of quarantined inputs for good; their records stay.

    \b
    Example:
      streamgale quarantine discard 3f9c2a7b1d4e8f60 --yes
    """
    store = open_store(state_dir)
    try:
        for entry_id in ids:
            store.get(entry_id)  # unknown ids fail before the question is asked
        if not yes:
            click.confirm(
                f"Discard {len(ids)} quarantined input(s)? Their original bytes are deleted "
                "for good.",
                abort=True,
            )
        discarded = store.discard(ids)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"discarded": discarded, "ids": list(ids)}))
        return
    click.echo(
        f"discarded {discarded} quarantined input(s); their records stay "
        "('streamgale quarantine list --status discarded')"
    )


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
