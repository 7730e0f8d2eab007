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

from streamgale.config import DURATION_FORMATS, parse_duration
from streamgale.config.runtime_section import DEFAULT_STATE_DIR

__all__ = [
    "DEFAULT_STATE_DIR",
    "DURATION",
    "Duration",
    "json_option",
    "make_console",
    "runtime_options",
    "runtime_overrides",
    "state_dir_option",
]

F = TypeVar("F", bound=Callable[..., Any])


if TYPE_CHECKING:
    _FloatParam = click.ParamType[float]  # generic from click 8.3 on
else:
    _FloatParam = click.ParamType


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


def state_dir_option(*, default: Path | None, help: str) -> Callable[[F], F]:
    """``--state-dir DIR`` with its ``STREAMGALE_STATE_DIR`` environment variable."""
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
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


def json_option(help: str = "Print JSON instead of a table.") -> Callable[[F], F]:
    """``--json``: machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help=help)


_PIPE_WIDTH = 200
"""Table width when stdout is not a terminal, where rich would assume 80 columns."""


def make_console() -> Console:
    """A rich console on the current stdout; wide when piped, so tables stay readable."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
