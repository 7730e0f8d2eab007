"""``streamgale dlq``: list, show and replay dead letters (records a step could not process).

The store is ``<state-dir>/deadletters.sqlite``, shared by the pipelines that
run with that state directory. It is opened read-write in SQLite's WAL mode,
so these commands work while the pipeline runs.
"""

from __future__ import annotations

import json
import pprint
from datetime import datetime
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from streamgale.cli.options import found_stores_hint, json_option, make_console, state_dir_option
from streamgale.deadletter import DeadLetter, DeadLetterStatus, DeadLetterStore
from streamgale.errors import DeadLetterError

__all__ = ["dlq", "open_store"]

STORE_FILE = "deadletters.sqlite"
_STATE_DIR_HELP = "State directory of the pipeline, holding deadletters.sqlite."
_ALL = 1_000_000_000
"""--all means every matching letter; SQLite needs some LIMIT."""


@click.group(short_help="List, show and replay dead letters (records that failed).")
def dlq() -> None:
    """Inspect and replay dead letters: records a step could not process.

    A failing record never stops a pipeline and is never dropped: it is kept
    with its step, error, traceback and payload. Fix the cause (a bug, bad
    reference data), then replay: the pipeline feeds the payloads back into
    the step that failed.

    \b
    Example:
      streamgale dlq list --state-dir .streamgale/sensors --status new
      streamgale dlq show 3 --state-dir .streamgale/sensors
      streamgale dlq replay --all --step parse --state-dir .streamgale/sensors
    """


def open_store(state_dir: Path) -> DeadLetterStore:
    """The store in ``state_dir``; a clear error (and no new file) when there is none."""
    path = state_dir / STORE_FILE
    if not path.is_file() and (state_dir / "runtime" / STORE_FILE).is_file():
        path = state_dir / "runtime" / STORE_FILE  # a radiology pipeline's runtime keeps it there
    if not path.is_file():
        hint = found_stores_hint(state_dir, STORE_FILE)
        raise DeadLetterError(
            f"no dead-letter store at {path}; point at the pipeline's state directory "
            f"with --state-dir DIR or STREAMGALE_STATE_DIR{hint}"
        )
    return DeadLetterStore(path)


@dlq.command("list")
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@click.option("--pipeline", help="Only letters of this pipeline.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in DeadLetterStatus]),
    help="Only letters in this state: new, replay (marked) or replayed.",
)
@click.option("--step", help="Only letters of this step id.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option()
def list_letters(
    *,
    state_dir: Path,
    pipeline: str | None,
    status: str | None,
    step: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List dead letters, oldest first.

    \b
    Example:
      streamgale dlq list --pipeline sensors --status new --limit 20 --state-dir .streamgale/sensors
      streamgale dlq list --json --state-dir .streamgale/sensors | jq '.[].error'
    """
    store = open_store(state_dir)
    try:
        wanted = DeadLetterStatus(status) if status else None
        letters = store.list(pipeline, wanted, step, limit=limit)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([letter.to_json() for letter in letters], indent=2))
        return
    if not letters:
        click.echo(f"no dead letters match (store: {state_dir / STORE_FILE})")
        return
    make_console().print(_table(letters))
    if len(letters) == limit:
        click.echo(f"showing the first {limit}; use --limit to see more")


def _table(letters: list[DeadLetter]) -> Table:
    table = Table(show_lines=False)
    table.add_column("id", justify="right", no_wrap=True)
    for name in ("pipeline", "step", "error type"):
        table.add_column(name, no_wrap=True)
    table.add_column("error", max_width=40, overflow="ellipsis", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("payload", max_width=40, overflow="ellipsis", no_wrap=True)
    for letter in letters:
        cells = (
            str(letter.id),
            letter.pipeline,
            letter.step_id,
            letter.error_type,
            letter.error,
            _when(letter.created_at),
            letter.status.value,
            letter.preview,
        )
        # Text, not str: a payload like "[warn]" must not be read as rich markup.
        table.add_row(*(Text(cell) for cell in cells))
    return table


@dlq.command("show")
@click.argument("letter_id", metavar="ID", type=int)
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@json_option("Print JSON (with the traceback and the payload's full repr).")
def show(*, letter_id: int, state_dir: Path, as_json: bool) -> None:
    """Show one dead letter in full: error, traceback and payload.

    \b
    Example:
      streamgale dlq show 3 --state-dir .streamgale/sensors
    """
    store = open_store(state_dir)
    try:
        letter = store.get(letter_id)
    finally:
        store.close()
    payload = _payload_repr(letter)
    if as_json:
        document = {**letter.to_json(with_traceback=True), "payload_repr": payload}
        click.echo(json.dumps(document, indent=2))
        return
    fields = {
        "pipeline": letter.pipeline,
        "step": letter.step_id,
        "status": letter.status.value,
        "created": _when(letter.created_at),
        "batch": "yes" if letter.is_batch else "no",
        "error": f"{letter.error_type}: {letter.error}",
    }
    click.echo(f"dead letter {letter.id}")
    for name, value in fields.items():
        click.echo(f"  {name + ':':<10} {value}")
    click.echo("traceback:")
    click.echo(_indent(letter.traceback.rstrip()))
    click.echo("payload:")
    click.echo(_indent(payload))


@dlq.command("replay")
@click.argument("ids", nargs=-1, type=int, metavar="[ID]...")
@click.option("--all", "replay_all", is_flag=True, help="Every new letter (narrow with --step).")
@click.option("--step", help="With --all: only letters of this step.")
@click.option("--pipeline", help="With --all: only letters of this pipeline.")
@state_dir_option(help=_STATE_DIR_HELP, exists=True)
@json_option("Print the result as JSON.")
def replay(
    *,
    ids: tuple[int, ...],
    replay_all: bool,
    step: str | None,
    pipeline: str | None,
    state_dir: Path,
    as_json: bool,
) -> None:
    """Mark dead letters for replay: by ID, or --all new ones.

    The pipeline does the replay: while it runs, it takes marked letters at
    its next checkpoint (or, if it is stopped, when it next starts with the
    same state directory) and feeds each payload back into the step that
    failed. A letter that fails again comes back as a new letter.

    \b
    Example:
      streamgale dlq replay 3 4 5 --state-dir .streamgale/sensors
      streamgale dlq replay --all --step parse --pipeline sensors --state-dir .streamgale/sensors
    """
    _check_replay_args(ids, replay_all, step, pipeline)
    store = open_store(state_dir)
    try:
        if replay_all:
            letters = store.list(pipeline, DeadLetterStatus.NEW, step, limit=_ALL)
            ids = tuple(letter.id for letter in letters)
        steps = sorted({store.get(i).step_id for i in ids})
        marked = store.request_replay(ids) if ids else 0
    finally:
        store.close()
    if as_json:
        document = {"marked": marked, "ids": list(ids), "steps": steps, "state_dir": str(state_dir)}
        click.echo(json.dumps(document, indent=2))
        return
    if not ids:
        click.echo("no new dead letters match; nothing to replay")
        return
    click.echo(f"marked {marked} dead letter(s) for replay: ids {', '.join(map(str, ids))}")
    if marked < len(ids):
        click.echo(f"{len(ids) - marked} were already replayed and were left as they are")
    click.echo(
        f"The running pipeline feeds them back into step(s) {', '.join(steps)} at its next "
        f"checkpoint; if it is stopped, its next run with --state-dir {state_dir} does."
    )


def _check_replay_args(
    ids: tuple[int, ...], replay_all: bool, step: str | None, pipeline: str | None
) -> None:
    if ids and replay_all:
        raise click.UsageError("give dead letter IDs or --all, not both")
    if not ids and not replay_all:
        raise click.UsageError(
            "say which letters to replay: IDs (see 'streamgale dlq list') or --all"
        )
    if ids and (step or pipeline):
        raise click.UsageError("--step and --pipeline narrow --all; with IDs, the IDs say which")


def _payload_repr(letter: DeadLetter) -> str:
    try:
        return pprint.pformat(letter.payload, width=100, sort_dicts=False)
    except Exception as exc:  # a class the payload needs may not be importable here
        return f"(cannot unpickle the payload: {type(exc).__name__}: {exc}) {letter.preview}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
