"""``streamgale run`` for a radiology YAML file: listeners, routes, models, destinations.

A file with a top-level ``radiology:`` key describes the DICOM pipeline
(:mod:`streamgale.dicom.radiology.config`); ``run`` starts its DIMSE and
STOW-RS listeners and runs it until Ctrl-C or SIGTERM, which drain and commit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.table import Table

from streamgale.cli.options import make_console

if TYPE_CHECKING:  # the DICOM extra is imported only when a radiology file is run
    from streamgale.dicom.radiology.pipeline import RadiologySettings
    from streamgale.service import RadiologyService

__all__ = ["describe_radiology", "dicom_options", "radiology_summary", "run_radiology"]

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


def run_radiology(settings: RadiologySettings) -> None:
    """Run a loaded radiology pipeline until Ctrl-C / SIGTERM (or ``--stop-after``)."""
    from streamgale.fsutil import wait_for_space
    from streamgale.service import RadiologyService

    wait_for_space(settings.state_dir)  # a start on a full disk waits, it does not exit
    service = RadiologyService(settings, on_result=_say_result)
    click.echo(
        f"radiology pipeline '{settings.name}' starting (state in {settings.state_dir}); "
        "Ctrl-C drains, commits and stops",
        err=True,
    )
    threading.Thread(target=_say_ready, args=(service,), daemon=True).start()
    service.run()
    click.echo(f"radiology pipeline '{settings.name}' stopped", err=True)


def describe_radiology(file: Path, settings: RadiologySettings, *, as_json: bool) -> None:
    """What ``validate`` prints for a radiology file: doors, models, routes, destinations."""
    document = radiology_summary(settings)
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    console = make_console()
    table = Table(title=f"radiology pipeline '{settings.name}' ({file})")
    for column in ("route", "matches", "models", "destinations"):
        table.add_column(column, overflow="fold")
    for route in document["routes"]:
        table.add_row(
            route["name"],
            route["matches"],
            ", ".join(route["models"]),
            ", ".join(route["destinations"]),
        )
    console.print(table)
    for name in ("listeners", "models", "destinations", "runtime"):
        value = document[name]
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        console.print(f"{name}: {value or 'none'}", highlight=False, soft_wrap=True)
    click.echo(f"OK: {file} is a valid radiology pipeline with {len(settings.routes)} route(s)")


def radiology_summary(settings: RadiologySettings) -> dict[str, Any]:
    """The settings ``validate`` shows, as plain JSON-able values."""
    listeners: dict[str, str] = {}
    if settings.dimse is not None:
        d = settings.dimse
        listeners["dimse"] = f"{d.ae_title}@{d.host}:{d.port}"
    if settings.stow is not None:
        listeners["stow"] = (
            f"http://{settings.stow.host}:{settings.stow.port}{settings.stow.path_prefix}"
        )
    if settings.dashboard is not None:
        listeners["dashboard"] = f"http://{settings.dashboard.host}:{settings.dashboard.port}/"
    if settings.folder is not None:
        listeners["folder"] = str(settings.folder)
    return {
        "pipeline": settings.name,
        "listeners": listeners,
        "models": ", ".join(f"{m.name} v{m.version}" for m in settings.models),
        "routes": [
            {
                "name": r.name,
                "matches": _matches(r),
                "models": list(r.all_models),
                "destinations": list(r.destinations),
            }
            for r in settings.routes
        ],
        "destinations": ", ".join(d.name for d in settings.destinations),
        "runtime": {
            "state_dir": str(settings.state_dir),
            "checkpoint_interval": settings.checkpoint_interval,
            "metrics_port": settings.metrics_port,
            "max_run_seconds": settings.max_run_seconds,
            "telemetry": settings.telemetry,
        },
    }


def _matches(route: Any) -> str:
    parts = [
        f"{label}={','.join(sorted(values))}"
        for label, values in (
            ("modality", route.modalities),
            ("body_part", route.body_parts),
            ("sop_class", route.sop_class_uids),
            ("calling_ae", route.calling_aes),
        )
        if values
    ]
    if route.series_description:
        parts.append(f"series_description={route.series_description}")
    return " ".join(parts) or "everything"


def _say_ready(app: RadiologyService) -> None:
    """Once the doors are open: where the doors, metrics, lake and dashboard are."""
    if not app.ready.wait(120):
        return
    # The listeners know their ports (0 picks a free one) only once started.
    dimse = app.settings.dimse
    if app.scp is not None and dimse is not None:
        click.echo(f"DIMSE: AE {dimse.ae_title} on {dimse.host}:{app.scp.port}", err=True)
    if app.stow is not None:
        click.echo(f"STOW-RS: {app.stow.url}/studies", err=True)
    metrics = app.runtime.metrics.server
    if metrics is not None:
        click.echo(f"Metrics: {metrics.url}", err=True)
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
