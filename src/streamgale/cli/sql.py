"""``streamgale sql`` and ``streamgale report``: query the lake with DuckDB.

``sql`` runs one read-only query; ``report`` runs a canned one by name
(:data:`streamgale.sql.REPORTS`). Both print a table, CSV or JSON; a query
that fails or is refused raises a StreamGale error, which the ``streamgale``
group prints as one ``error:`` line with a non-zero exit code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from rich.table import Table

from streamgale.cli.options import lake_root, make_console, state_dir_option
from streamgale.errors import ConfigError

if TYPE_CHECKING:  # streamgale.sql needs the sql extra, so it is imported when a command runs
    from streamgale.sql import Param, QueryResult, SqlEngine

__all__ = ["report", "sql"]

Format = Literal["table", "csv", "json"]


def _lake_options(command: Any) -> Any:
    """``--state-dir``, ``--lake``, ``--storage-option`` and ``--format``, for both commands."""
    decorators = [
        state_dir_option(help="State directory of the pipeline; its lake is <state-dir>/lake."),
        click.option(
            "--lake",
            envvar="STREAMGALE_LAKE",
            show_envvar=True,
            help="Lake root, a directory or s3://bucket/prefix (default: <state-dir>/lake).",
        ),
        click.option(
            "--storage-option",
            "storage_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="fsspec option of a remote lake, e.g. endpoint_url=http://127.0.0.1:9000 "
            "(repeatable; true/false and JSON objects are parsed, the rest is text).",
        ),
        click.option(
            "--format",
            "output",
            type=click.Choice(["table", "csv", "json"]),
            default="table",
            show_default=True,
            help="Output format.",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


@click.command(short_help="Query the lake with SQL (DuckDB).")
@click.argument("query", metavar="SQL")
@_lake_options
def sql(
    *,
    query: str,
    state_dir: Path,
    lake: str | None,
    storage_options: Sequence[str],
    output: Format,
) -> None:
    """Run one read-only SQL query over the lake's tables: telemetry, inferences, results.

    Each table is a view over its Parquet files; the partition keys date
    and pipeline are columns too (filter on date to read fewer files).

    \b
    Example:
      streamgale sql "SELECT stage, count(*) FROM telemetry GROUP BY stage"
      streamgale sql "DESCRIBE inferences" --format json
      streamgale sql "SELECT * FROM results LIMIT 5" --lake s3://bucket/lake \\
          --storage-option endpoint_url=http://127.0.0.1:9000
    """
    with _engine(lake_root(lake, state_dir), storage_options) as engine:
        result = engine.execute(query)
    _print(result, output)


@click.command(short_help="Run a canned report over the lake.")
@click.argument("name", required=False)
@click.option("--list", "list_reports", is_flag=True, help="List the reports and exit.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A report parameter, e.g. minutes=30 or study_uid=1.2.3 (repeatable).",
)
@_lake_options
def report(
    *,
    name: str | None,
    list_reports: bool,
    params: Sequence[str],
    state_dir: Path,
    lake: str | None,
    storage_options: Sequence[str],
    output: Format,
) -> None:
    """Run a canned report: stage-latency, throughput, errors, ab, study or results.

    \b
    Example:
      streamgale report --list
      streamgale report stage-latency
      streamgale report throughput --param minutes=15 --format csv
      streamgale report study --param study_uid=1.2.826.0.1.3680043.8.498.1
    """
    from streamgale.sql import REPORTS

    if list_reports:
        _list_reports(output)
        return
    if name is None:
        raise click.UsageError("name a report (see: streamgale report --list)")
    if name not in REPORTS:
        raise ConfigError(
            f"no report named '{name}'; the reports are: {', '.join(REPORTS)} "
            "(streamgale report --list describes them)"
        )
    values = _pairs(params, "--param", parse=False)
    with _engine(lake_root(lake, state_dir), storage_options) as engine:
        result = engine.report(name, **values)
    _print(result, output, title=REPORTS[name].title)


def _engine(lake: str, storage_options: Sequence[str]) -> SqlEngine:
    from streamgale.sql import SqlEngine

    return SqlEngine(lake, storage_options=_pairs(storage_options, "--storage-option"))


def _pairs(items: Sequence[str], option: str, *, parse: bool = True) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict; values go through :func:`_scalar` when ``parse``."""
    pairs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} takes KEY=VALUE, got {item!r}", source="argument")
        pairs[key.strip()] = _scalar(value) if parse else value
    return pairs


def _scalar(text: str) -> Any:
    """``true``/``false`` as booleans and JSON objects or arrays as such; the rest stays text.

    Numbers stay text: an access key made of digits must reach fsspec as a string.
    """
    if text in ("true", "false"):
        return text == "true"
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _print(result: QueryResult, output: Format, *, title: str | None = None) -> None:
    if output == "csv":
        click.echo(result.to_csv(), nl=False)
    elif output == "json":
        click.echo(result.to_json())
    else:
        _print_table(result, title)


def _print_table(result: QueryResult, title: str | None) -> None:
    count = len(result.rows)
    caption = f"{count} row{'' if count == 1 else 's'} in {result.elapsed_ms:.0f} ms"
    table = Table(title=title, caption=caption)
    numeric = [_is_numeric(result, i) for i in range(len(result.columns))]
    for column, right in zip(result.columns, numeric, strict=True):
        table.add_column(column, justify="right" if right else "left")
    for row in result.rows:
        table.add_row(*(_cell(value) for value in row))
    make_console().print(table)


def _is_numeric(result: QueryResult, index: int) -> bool:
    values = [row[index] for row in result.rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


def _cell(value: Any) -> str:
    """A table cell: NULL as ``-``, floats to three decimals, the rest as text (not markup)."""
    from rich.markup import escape

    from streamgale.sql import plain_value

    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) >= 0.001 or value == 0 else f"{value:.3g}"
    plain = plain_value(value)
    return escape(plain if isinstance(plain, str) else json.dumps(plain))


def _list_reports(output: Format) -> None:
    from streamgale.sql import REPORTS, QueryResult

    rows = [
        (r.name, r.title, ", ".join(_param_text(p) for p in r.params), r.description)
        for r in REPORTS.values()
    ]
    if output != "table":
        _print(QueryResult(("name", "title", "parameters", "description"), rows, 0.0), output)
        return
    table = Table(title="Reports (streamgale report NAME)")
    for column in ("name", "parameters", "what it shows"):
        table.add_column(column)
    for name, _, params, description in rows:
        table.add_row(name, params or "-", description)
    make_console().print(table)


def _param_text(param: Param) -> str:
    """``name (required)``, ``name=default`` or ``name`` (optional, no default)."""
    if param.required:
        return f"{param.name} (required)"
    return param.name if param.default is None else f"{param.name}={param.default}"
