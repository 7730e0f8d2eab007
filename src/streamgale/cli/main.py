"""The ``streamgale`` command: the group, its global options and error reporting.

An error StreamGale raises on purpose is printed as one line on stderr,
``error: <what was wrong and what to do>``, with exit code 2 for a
configuration error and 1 for anything else; ``-v`` adds the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any

import click

from streamgale import __version__
from streamgale.cli.demo import demo
from streamgale.cli.dlq import dlq
from streamgale.cli.run import run, validate
from streamgale.errors import ConfigError, StreamGaleError

__all__ = ["EXIT_CONFIG", "EXIT_RUNTIME", "main"]

EXIT_RUNTIME = 1
EXIT_CONFIG = 2
"""Exit codes: 2 matches click's own usage errors, so 'fix your input' is one code."""

_VERBOSE = "streamgale.verbose"
_HANDLER_MARK = "_streamgale_cli"


class _Group(click.Group):
    """A group that turns StreamGale errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a reader that went away (| head) shows here, not at exit
            return result
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(0)  # the reader has all it wanted: not an error
        except (StreamGaleError, OSError) as exc:
            if ctx.meta.get(_VERBOSE, 0):
                click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
            message = " ".join(str(exc).split("\n"))
            click.echo(f"error: {message}", err=True)
            ctx.exit(EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_RUNTIME)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="\b\nExample:\n  streamgale run examples/sensors.yaml --state-dir .streamgale/sensors",
)
@click.version_option(__version__, "--version", prog_name="streamgale")
@click.option(
    "-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug) and show tracebacks."
)
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """StreamGale: stream data from where it is born into AI models, with nothing lost.

    \b
    Run a pipeline written in YAML, check one, look at the records that
    failed (the dead-letter queue) and replay them, or try a demo:
      streamgale validate pipeline.yaml
      streamgale run pipeline.yaml
      streamgale dlq list --state-dir .streamgale/sensors
      streamgale demo
    """
    ctx.meta[_VERBOSE] = verbose
    _configure_logging(verbose)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush finds no closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _configure_logging(verbose: int) -> None:
    """Send streamgale's log to stderr at the level ``-v`` asks for.

    Only the ``streamgale`` logger is touched (never the root logger), and
    the handler is replaced on each call so it writes to the current stderr.
    """
    logger = logging.getLogger("streamgale")
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
    if not verbose:
        return
    handler = logging.StreamHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


for _command in (run, validate, dlq, demo):
    main.add_command(_command)
