"""Options and helpers shared by the ``streamgale`` commands.

Every option that has an environment variable names it in ``--help``
(``show_envvar``); the variables are all ``STREAMGALE_*``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamgale.config import DURATION_FORMATS, parse_duration
from streamgale.config.runtime_section import DEFAULT_STATE_DIR
from streamgale.dicom.ingest.retention import parse_size
from streamgale.errors import ConfigError

__all__ = [
    "DEFAULT_STATE_DIR",
    "DURATION",
    "Duration",
    "Size",
    "found_stores_hint",
    "json_option",
    "lake_root",
    "make_console",
    "plain_rows",
    "runtime_options",
    "runtime_overrides",
    "state_dir_option",
]

F = TypeVar("F", bound=Callable[..., Any])


if TYPE_CHECKING:
    _FloatParam = click.ParamType[float]  # generic from click 8.3 on
    _IntParam = click.ParamType[int]
else:
    _FloatParam = _IntParam = click.ParamType


class Duration(_FloatParam):
    """A duration option: ``500ms``, ``10s``, ``5m``, ``1h`` or a number of seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Seconds in ``value``; a usage error names the accepted formats."""
        try:
            return parse_duration(value)
        except ValueError:
            self.fail(f"{value!r} is not a duration; use {DURATION_FORMATS}", param, ctx)


DURATION = Duration()


class Size(_IntParam):
    """A size option: ``500MB``, ``2GiB``, ``1TB`` or a number of bytes."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Bytes in ``value``; a usage error names the accepted forms."""
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def found_stores_hint(state_dir: Path, relative: str) -> str:
    """``"; stores were found in: ..."`` naming the directories below ``state_dir`` that hold
    ``relative`` (a store's file, e.g. ``quarantine/index.sqlite``), or ``""`` if none do.

    Ends the error of a command pointed one level too high (at the parent of
    several pipelines' state directories), so the user knows where to point.
    """
    depth = len(Path(relative).parts)
    found = sorted(str(p.parents[depth - 1]) for p in state_dir.glob(f"*/{relative}"))
    return f"; stores were found in: {', '.join(found)}" if found else ""


def state_dir_option(
    *, default: Path | None = DEFAULT_STATE_DIR, help: str, exists: bool = False
) -> Callable[[F], F]:
    """``--state-dir DIR`` with its ``STREAMGALE_STATE_DIR`` environment variable.

    ``exists=True`` for commands that read state: a directory that does not
    exist is a usage error (exit 2), never an empty answer.
    """
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, exists=exists, path_type=Path),
        default=default,
        envvar="STREAMGALE_STATE_DIR",
        show_envvar=True,
        show_default=default is not None,
        help=help,
    )


def runtime_options(command: F) -> F:
    """The runtime overrides of ``run`` and ``validate``; each beats the file's value."""
    decorators = [
        state_dir_option(
            default=None,
            help="Directory for snapshots and dead letters (overrides runtime.state_dir).",
        ),
        click.option(
            "--metrics-port",
            type=click.IntRange(0, 65535),
            envvar="STREAMGALE_METRICS_PORT",
            show_envvar=True,
            help="Serve Prometheus metrics on 127.0.0.1:PORT; 0 picks a free port.",
        ),
        click.option(
            "--checkpoint-interval",
            type=DURATION,
            envvar="STREAMGALE_CHECKPOINT_INTERVAL",
            show_envvar=True,
            help="Time between checkpoints, e.g. 500ms or 2s.",
        ),
        click.option(
            "--stop-after",
            type=DURATION,
            envvar="STREAMGALE_STOP_AFTER",
            show_envvar=True,
            help="Drain, commit and stop after this long (default: when the sources end).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def runtime_overrides(
    state_dir: Path | None,
    metrics_port: int | None,
    checkpoint_interval: float | None,
    stop_after: float | None,
) -> dict[str, object]:
    """The overrides :func:`~streamgale.config.load_pipeline` takes, from the options."""
    return {
        "state_dir": state_dir,
        "metrics_port": metrics_port,
        "checkpoint_interval": checkpoint_interval,
        "max_run_seconds": stop_after,
    }


def lake_root(lake: str | None, state_dir: Path) -> str:
    """The lake to read: ``--lake``, else ``<state-dir>/lake`` (where the pipeline lands it).

    A local lake that does not exist is a :class:`ConfigError` (exit 2), not
    a set of empty tables.
    """
    root = lake or str(state_dir / "lake")
    if "://" not in root and not Path(root).is_dir():
        raise ConfigError(
            f"no lake at {root}; run a radiology pipeline with telemetry on first, or point "
            "at its state directory with --state-dir DIR (or at the lake with --lake PATH_OR_URL)"
        )
    return root


def json_option(help: str = "Print JSON instead of a table.") -> Callable[[F], F]:
    """``--json``: machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def make_console() -> Console:
    """A rich console on the current stdout.

    On a terminal it draws tables to the window's width. Piped (CI,
    ``| tee``, ``| less``) nothing is cut or wrapped: text keeps whole lines
    and a table becomes plain tab-separated rows, its header first, so no
    id or path a user must paste is ever shortened.
    """
    if sys.stdout.isatty():
        # soft_wrap: lines are the terminal's to wrap, so a pasted command stays whole
        return Console(file=sys.stdout, soft_wrap=True)
    return _PipeConsole(file=sys.stdout, soft_wrap=True, width=_PIPE_WIDTH)


_PIPE_WIDTH = 10_000
"""Wide enough that rich never wraps a piped line; tables do not use it (plain rows)."""


class _PipeConsole(Console):
    """Piped output: tables as plain rows, text never wrapped."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if len(objects) == 1 and isinstance(objects[0], Table):
            table = objects[0]
            if table.title:  # what the rows are, kept off the data (stdout)
                click.echo(_plain(table.title), err=True)
            self.file.write(plain_rows(table))
            if table.caption:
                click.echo(_plain(table.caption), err=True)
            return
        super().print(*objects, **kwargs)


def plain_rows(table: Table) -> str:
    """``table`` as tab-separated lines (a header line, then each row), complete cells.

    The title and caption are left out: the rows are data.
    """
    columns = table.columns
    lines = ["\t".join(_plain(column.header) for column in columns)]
    cells = [list(column.cells) for column in columns]
    for row in range(table.row_count):
        lines.append("\t".join(_plain(column[row]) for column in cells))
    return "\n".join(lines) + "\n"


def _plain(cell: Any) -> str:
    text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
    return " ".join(text.split())
