"""``streamgale demo``: self-contained demos that show StreamGale end to end.

Each demo is a subcommand that calls ``main(...)`` of a module in
:mod:`streamgale.demo`, imported only when the demo runs. ``streamgale demo``
with no name runs :data:`DEFAULT_DEMO`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from streamgale.cli.options import make_console
from streamgale.errors import MissingExtraError, StreamGaleError

__all__ = ["DEFAULT_DEMO", "demo"]

F = TypeVar("F", bound=Callable[..., Any])

_EXTRAS = {"radiology": "dicom,inference,lake,sql"}
"""The extras a demo needs beyond the core (``pip install 'streamgale[...]'``)."""

DEFAULT_DEMO = "radiology"
"""The demo a bare ``streamgale demo`` runs."""


_SERVE = click.option(
    "--serve/--no-serve",
    default=None,
    help="Keep the pipeline and dashboard up after the report, until Ctrl-C "
    "(default: only in an interactive terminal).",
)


def _state_dir_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Where the demo keeps its {what} (default: a new temporary directory).",
    )


def _size_options(*, defaults: bool) -> Callable[[F], F]:
    """``--studies`` and ``--slices`` of the radiology demo (None: not given, for the group)."""

    def decorate(command: F) -> F:
        command = click.option(
            "--slices",
            type=click.IntRange(min=1),
            default=24 if defaults else None,
            show_default=defaults,
            help="Slices (512x512 CT instances) per study.",
        )(command)
        return click.option(
            "--studies",
            type=click.IntRange(min=1),
            default=4 if defaults else None,
            show_default=defaults,
            help="How many synthetic CT studies to send (every other one has a lesion).",
        )(command)

    return decorate


@click.group(invoke_without_command=True)
@_size_options(defaults=False)
@_state_dir_option("stores and results")
@_SERVE
@click.pass_context
def demo(
    ctx: click.Context,
    *,
    studies: int | None,
    slices: int | None,
    state_dir: Path | None,
    serve: bool | None,
) -> None:
    """Run a demo; with no name, the main one (radiology), with these options.

    \b
    Example:
      streamgale demo
      streamgale demo --no-serve --state-dir /tmp/radiology
      streamgale demo radiology --studies 2 --slices 12
      streamgale demo sensors --events 50000 --state-dir /tmp/sensors --keep
    """
    if ctx.invoked_subcommand is None:
        command = demo.get_command(ctx, DEFAULT_DEMO)
        if command is None:  # pragma: no cover - DEFAULT_DEMO names a command below
            raise click.UsageError(f"no demo named '{DEFAULT_DEMO}'")
        given = {"studies": studies, "slices": slices, "state_dir": state_dir, "serve": serve}
        ctx.invoke(command, **{k: v for k, v in given.items() if v is not None})
    elif (studies, slices, state_dir, serve) != (None, None, None, None):
        raise click.UsageError(
            "give the demo's options after its name: "
            f"streamgale demo {ctx.invoked_subcommand} --state-dir DIR"
        )


@demo.command()
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="How many sensor readings to stream.",
)
@_state_dir_option("log, state and results")
@click.option(
    "--keep", is_flag=True, help="Keep the demo's temporary folder when it ends (else removed)."
)
@click.pass_context
def sensors(ctx: click.Context, *, events: int, state_dir: Path | None, keep: bool) -> None:
    """Sensor readings -> durable log -> windowed statistics, with metrics.

    Streams synthetic readings through the embedded log, computes per-sensor
    statistics in event-time windows, and prints the results and the speed.

    \b
    Example:
      streamgale demo sensors --events 50000
    """
    code = _run_demo("sensors", events=events, state_dir=state_dir, keep=keep)
    if code:
        ctx.exit(code)


@demo.command()
@_size_options(defaults=True)
@_state_dir_option("stores and results")
@_SERVE
@click.pass_context
def radiology(
    ctx: click.Context, *, studies: int, slices: int, state_dir: Path | None, serve: bool | None
) -> None:
    """Synthetic CT studies over DIMSE -> AI -> SR/SEG back into each study.

    Starts the DIMSE listener (AE STREAMGALE, port 11112), STOW-RS and the
    web dashboard (port 8080, login with the admin token it prints once),
    sends the studies with a progress bar, and prints the findings, the
    per-stage latencies, an A/B comparison of the demo model with a more
    sensitive version of itself (shadow mode) from the Parquet lake, and where
    the SR/SEG files and the lake are. Uses the DEMO model.

    \b
    Example:
      streamgale demo radiology --studies 2 --slices 12
    """
    code = _run_demo("radiology", studies=studies, slices=slices, state_dir=state_dir, serve=serve)
    if code:
        ctx.exit(code)


def _run_demo(name: str, **options: Any) -> int:
    """Call ``streamgale.demo.<name>:main`` with the options it accepts."""
    try:
        module = importlib.import_module(f"streamgale.demo.{name}")
    except ImportError as exc:
        missing = _missing_package(exc)
        if name in _EXTRAS and missing:
            raise MissingExtraError(f"the {name} demo", _EXTRAS[name], missing) from exc
        raise StreamGaleError(
            f"the {name} demo is not available in this installation "
            f"(cannot import streamgale.demo.{name}: {exc})"
        ) from exc
    accepted = inspect.signature(module.main).parameters
    unsupported = [k for k, v in options.items() if k not in accepted and v not in (None, False)]
    if unsupported:
        raise StreamGaleError(f"the {name} demo does not support --{', --'.join(unsupported)} yet")
    if "console" in accepted:  # piped output is not cut to 80 columns
        options["console"] = make_console()
    result = module.main(**{k: v for k, v in options.items() if k in accepted})
    return result if isinstance(result, int) else 0


def _missing_package(exc: ImportError) -> str | None:
    """The third-party package whose absence ``exc`` reports, if that is what it is."""
    cause = exc.__cause__ if isinstance(exc, MissingExtraError) else exc
    name = getattr(cause, "name", None)
    return name.split(".")[0] if name and not name.startswith("streamgale") else None
