"""``streamgale run`` for a radiology YAML file: listeners, routes, models, destinations.

A file with a top-level ``radiology:`` key describes the DICOM pipeline
(:mod:`streamgale.dicom.radiology.config`); ``run`` starts its DIMSE and
STOW-RS listeners and runs it until Ctrl-C or SIGTERM, which drain and commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["dicom_options", "is_radiology_file", "run_radiology"]

F = TypeVar("F", bound=Callable[..., Any])


def dicom_options(command: F) -> F:
    """Listener overrides for radiology files; each beats the file's value."""
    decorators = [
        click.option(
            "--dicom-port",
            type=click.IntRange(0, 65535),
            envvar="STREAMGALE_DICOM_PORT",
            show_envvar=True,
            help="Radiology files: the DIMSE listener's port (0 picks a free port).",
        ),
        click.option(
            "--ae-title",
            envvar="STREAMGALE_AE_TITLE",
            show_envvar=True,
            help="Radiology files: the DIMSE listener's AE title.",
        ),
        click.option(
            "--stow-port",
            type=click.IntRange(0, 65535),
            envvar="STREAMGALE_STOW_PORT",
            show_envvar=True,
            help="Radiology files: the STOW-RS listener's port.",
        ),
        click.option(
            "--dashboard-port",
            type=click.IntRange(0, 65535),
            envvar="STREAMGALE_DASHBOARD_PORT",
            show_envvar=True,
            help="Radiology files: the web dashboard's port (turns the dashboard on).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def is_radiology_file(path: Path) -> bool:
    """Whether a YAML file describes a radiology pipeline (a top-level ``radiology:`` key).

    Reads YAML only, so plain pipelines never import the DICOM extra.
    """
    import yaml

    try:
        node = yaml.compose(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(node, yaml.MappingNode) and any(
        getattr(key, "value", None) == "radiology" for key, _ in node.value
    )


def run_radiology(file: Path, overrides: dict[str, Any]) -> None:
    """Load and run a radiology pipeline file until Ctrl-C / SIGTERM."""
    from streamgale.dicom.radiology.config import load_radiology
    from streamgale.service import RadiologyService

    settings = load_radiology(file, overrides=overrides)
    app = RadiologyService(settings, on_result=_say_result)
    click.echo(
        f"radiology pipeline '{settings.name}' running (state in {settings.state_dir}); "
        "Ctrl-C drains, commits and stops",
        err=True,
    )
    threading.Thread(target=_say_ready, args=(app,), daemon=True).start()
    app.run()


def _say_ready(app: Any) -> None:
    """Once the doors are open: where the dashboard and the lake are."""
    if not app.ready.wait(120):
        return
    # The listeners know their ports (0 picks a free one) only once started.
    if app.scp is not None:
        dimse = app.settings.dimse
        click.echo(f"DIMSE: AE {dimse.ae_title} on {dimse.host}:{app.scp.port}", err=True)
    if app.stow is not None:
        click.echo(f"STOW-RS: {app.stow.url}/studies", err=True)
    if app.settings.telemetry:
        click.echo(f"Lake: {app.lake_root} (streamgale sql / streamgale report)", err=True)
    if app.dashboard is not None:
        click.echo(f"Dashboard: {app.dashboard.url}", err=True)
        if app.dashboard.first_token:
            click.echo(
                f"Dashboard admin token (shown once, keep it): {app.dashboard.first_token}",
                err=True,
            )


def _say_result(summary: Any) -> None:
    verdict = "FINDING" if summary.present else "no finding"
    click.echo(
        f"{summary.study_instance_uid}: {summary.model} v{summary.version}: {verdict} "
        f"(p={summary.probability:.2f}, {summary.instances} instances, "
        f"{summary.quarantined} quarantined)"
    )
