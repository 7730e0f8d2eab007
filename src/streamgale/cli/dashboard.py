"""``streamgale dashboard``: manage the web dashboard's admin token.

The dashboard itself is served by a running pipeline (``dashboard:`` in its
file, or ``streamgale demo``); this group only acts on its state directory.
"""

from __future__ import annotations

from pathlib import Path

import click

from streamgale.cli.options import state_dir_option

__all__ = ["dashboard"]


@click.group()
def dashboard() -> None:
    """The web dashboard's admin token.

    \b
    Example:
      streamgale dashboard reset-token --state-dir .streamgale
    """


@dashboard.command("reset-token")
@state_dir_option(
    help="The pipeline's state directory (the dashboard keeps its token hash there).",
    exists=True,
)
def reset_token(state_dir: Path) -> None:
    """Make a new admin token, print it once, and log every browser out.

    \b
    Example:
      streamgale dashboard reset-token --state-dir .streamgale
    """
    from streamgale.dashboard import reset_admin_token

    token = reset_admin_token(state_dir)
    click.echo(f"new dashboard admin token (shown once, keep it): {token}")
