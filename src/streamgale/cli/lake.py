"""``streamgale lake``: look at the Parquet lake's tables, compact it, apply retention.

The lake is a directory (the default, under the radiology app's state
directory) or a URL such as ``s3://bucket/prefix`` with ``--storage-option``
for the store's settings. See :mod:`streamgale.lake`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table
from rich.text import Text

from streamgale.cli.options import DURATION, json_option, lake_root, make_console, state_dir_option
from streamgale.lake import TABLES, Lake
from streamgale.lake.lake import DEFAULT_MIN_AGE_SECONDS

__all__ = ["lake", "parse_storage_options"]

F = TypeVar("F", bound=Callable[..., Any])


@click.group(short_help="Show the lake's tables; compact it; apply retention.")
def lake() -> None:
    """The Parquet lake: telemetry, inferences and results, as files you own.

    Tables are Hive-partitioned Parquet under the lake root, described by
    ``_catalog.json``; any engine reads them (DuckDB, Spark, pandas).

    \b
    Example:
      streamgale lake tables
      streamgale lake compact --table telemetry
      streamgale lake retention --days 30
      streamgale lake tables --lake s3://bucket/lake \\
          --storage-option endpoint_url=http://127.0.0.1:9000
    """


def parse_storage_options(values: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict; ``true``, ``false`` and ``{...}`` values are JSON.

    >>> parse_storage_options(["endpoint_url=http://h:9000", "anon=true"])
    {'endpoint_url': 'http://h:9000', 'anon': True}
    """
    options: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE; e.g. --storage-option endpoint_url=http://h:9000",
                param_hint="--storage-option",
            )
        options[key] = _option_value(value)
    return options


def _option_value(value: str) -> Any:
    # Only these forms are decoded, so a secret that looks like a number stays a string.
    if value in ("true", "false") or value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise click.BadParameter(
                f"{value!r} starts like JSON but is not valid JSON ({exc})",
                param_hint="--storage-option",
            ) from exc
    return value


def lake_options(command: F) -> F:
    """``--state-dir``, ``--lake`` and ``--storage-option``, shared by every ``lake`` command."""
    command = state_dir_option(
        help="State directory of the pipeline; its lake is <state-dir>/lake."
    )(command)
    command = click.option(
        "--storage-option",
        "storage_option",
        multiple=True,
        metavar="KEY=VALUE",
        help="An fsspec option for a URL lake, e.g. endpoint_url=http://127.0.0.1:9000; "
        "repeat for more.",
    )(command)
    return click.option(
        "--lake",
        "lake",
        envvar="STREAMGALE_LAKE",
        show_envvar=True,
        metavar="PATH_OR_URL",
        help="The lake: a directory or a URL such as s3://bucket/prefix "
        "(default: <state-dir>/lake).",
    )(command)


def _open(lake: str | None, state_dir: Path, storage_option: Sequence[str]) -> Lake:
    options = parse_storage_options(storage_option) or None
    return Lake(lake_root(lake, state_dir), storage_options=options)


@lake.command("tables")
@lake_options
@json_option("Print the catalog as JSON.")
def tables(
    *, lake: str | None, state_dir: Path, storage_option: tuple[str, ...], as_json: bool
) -> None:
    """List the lake's tables: description, columns, files and size.

    \b
    Example:
      streamgale lake tables
      streamgale lake tables --json | jq '.tables.telemetry.columns[].name'
    """
    store = _open(lake, state_dir, storage_option)
    catalog = store.catalog()
    if as_json:
        click.echo(json.dumps(catalog, indent=2))
        return
    table = Table(title=f"Lake tables ({store.root})")
    for column in ("table", "description", "columns", "first written", "files", "size"):
        table.add_column(column, no_wrap=column != "description")
    for name, entry in catalog["tables"].items():
        usage = store.usage(name) if name in TABLES else None
        table.add_row(
            Text(name),
            Text(str(entry.get("description", ""))),
            str(len(entry.get("columns", []))),
            Text(str(entry.get("first_written") or "never")),
            str(usage["files"]) if usage else "-",
            _size(usage["bytes"]) if usage else "-",
        )
    make_console().print(table)


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@lake.command("compact")
@lake_options
@click.option("--table", help="Only this table (default: every table).")
@click.option(
    "--min-files",
    type=click.IntRange(min=2),
    default=8,
    show_default=True,
    help="Compact a partition once it has this many small files.",
)
@click.option(
    "--min-age",
    type=DURATION,
    default=f"{DEFAULT_MIN_AGE_SECONDS:g}s",
    show_default=True,
    help="Leave files younger than this alone, e.g. 30s or 5m.",
)
@json_option("Print the result as JSON.")
def compact(
    *,
    lake: str | None,
    state_dir: Path,
    storage_option: tuple[str, ...],
    table: str | None,
    min_files: int,
    min_age: float,
    as_json: bool,
) -> None:
    """Merge each partition's small files into one file, losing no row.

    A run that was interrupted (a crash, Ctrl-C) is finished by the next one,
    which removes any rows it left doubled. Run one compaction at a time.

    \b
    Example:
      streamgale lake compact
      streamgale lake compact --table telemetry --min-files 4 --min-age 0
    """
    store = _open(lake, state_dir, storage_option)
    removed = store.compact(table, min_files=min_files, min_age_seconds=min_age)
    if as_json:
        click.echo(json.dumps({"lake": store.root, "files_removed": removed}))
        return
    click.echo(f"compacted {store.root}: {removed} small files merged away")


@lake.command("retention")
@lake_options
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Delete date partitions whose day ended more than this many days ago.",
)
@click.option("--table", help="Only this table (default: every table).")
@json_option("Print the result as JSON.")
def retention(
    *,
    lake: str | None,
    state_dir: Path,
    storage_option: tuple[str, ...],
    days: float,
    table: str | None,
    as_json: bool,
) -> None:
    """Delete whole days of data older than --days.

    \b
    Example:
      streamgale lake retention --days 30
      streamgale lake retention --days 7 --table telemetry
    """
    store = _open(lake, state_dir, storage_option)
    removed = store.apply_retention(days, table=table)
    if as_json:
        click.echo(json.dumps({"lake": store.root, "partitions_removed": removed}))
        return
    click.echo(
        f"retention on {store.root}: {removed} date partitions older than {days:g} days removed"
    )
