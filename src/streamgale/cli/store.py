"""``streamgale store purge`` and ``streamgale reprocess``: the received instances.

The instance store is ``<state-dir>/instances/`` (an SQLite index in WAL mode
and the Part-10 files). Both commands work whether or not the service runs:
``store purge`` deletes processed instances itself (an instance still in
flight is never purged); ``reprocess`` only queues a request, which the
service carries out within a second or two, or when it next starts, since
only the service writes the log its pipeline reads.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from streamgale.cli.options import (
    DEFAULT_STATE_DIR,
    DURATION,
    Size,
    found_stores_hint,
    json_option,
    state_dir_option,
)
from streamgale.dicom.ingest.events import InstanceEvent
from streamgale.dicom.ingest.index import InstanceIndex
from streamgale.dicom.ingest.reprocess import INDEX_FILE, request_reprocess
from streamgale.dicom.ingest.retention import PurgeReport, RetentionPolicy, purge_instances
from streamgale.errors import ConfigError

__all__ = ["STORE_DIR", "reprocess", "store"]

STORE_DIR = "instances"
_STATE_DIR_HELP = "State directory of the radiology service, holding instances/."


def instances_dir(state_dir: Path) -> Path:
    """The instance store of ``state_dir``; exit 2 with a hint when there is none."""
    directory = state_dir / STORE_DIR
    if not (directory / INDEX_FILE).is_file():
        hint = found_stores_hint(state_dir, f"{STORE_DIR}/{INDEX_FILE}")
        raise ConfigError(
            f"no instance store at {directory}; point at the service's state directory "
            f"with --state-dir DIR or STREAMGALE_STATE_DIR{hint}",
            key="state_dir",
        )
    return directory


@click.group(short_help="Retention of received instances: purge processed ones.")
def store() -> None:
    """Act on the instance store: every instance received, kept as sent.

    Received instances hold PHI. The service purges processed ones by its
    ``retention`` settings; ``purge`` does it on demand. An instance still
    in flight (not yet processed) is never purged.

    \b
    Example:
      streamgale store purge --older-than 30d --dry-run
      streamgale store purge --older-than 30d --state-dir .streamgale
    """


@store.command("purge")
@state_dir_option(default=DEFAULT_STATE_DIR, help=_STATE_DIR_HELP)
@click.option(
    "--older-than",
    type=DURATION,
    help="Purge processed instances received longer ago than this, e.g. 30d or 12h.",
)
@click.option(
    "--max-size",
    type=Size(),
    help="Then purge the oldest processed ones until the store holds at most this, e.g. 50GB.",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be purged.")
@json_option("Print the outcome as JSON.")
def purge(
    state_dir: Path, older_than: float | None, max_size: int | None, dry_run: bool, as_json: bool
) -> None:
    """Delete processed instances past an age or over a size; never one in flight.

    Quarantined instances count as processed (the quarantine keeps its own
    copy). Works while the service runs.

    \b
    Example:
      streamgale store purge --older-than 30d --dry-run
      streamgale store purge --max-size 500GB --json
    """
    if older_than is None and max_size is None:
        raise click.UsageError("give --older-than, --max-size or both")
    policy = RetentionPolicy(max_age=older_than, max_bytes=max_size)
    directory = instances_dir(state_dir)
    quarantine = _quarantine(state_dir)
    index = InstanceIndex(directory / INDEX_FILE)
    try:
        report = purge_instances(
            index, policy, now=time.time(), dry_run=dry_run, quarantined=quarantine
        )
    finally:
        index.close()
    _print_report(report, as_json)


def _quarantine(state_dir: Path) -> Any:
    """``holds`` of the quarantine beside the store: quarantined instances count as processed."""
    from streamgale.dicom.quality.quarantine import INDEX_FILE as QUARANTINE_INDEX
    from streamgale.dicom.quality.quarantine import QuarantineStore

    if not (state_dir / "quarantine" / QUARANTINE_INDEX).is_file():
        return None
    quarantine = QuarantineStore(state_dir / "quarantine")

    def holds(event: InstanceEvent) -> bool:
        return quarantine.holds(event.sop_instance_uid, since=event.received_at)

    return holds


def _print_report(report: PurgeReport, as_json: bool) -> None:
    if as_json:
        document = {
            "dry_run": report.dry_run,
            "purged": [e.sop_instance_uid for e in report.purged],
            "purged_bytes": report.purged_bytes,
            "kept": report.kept,
            "kept_bytes": report.kept_bytes,
            "kept_in_flight": report.kept_in_flight,
        }
        click.echo(json.dumps(document, indent=2))
        return
    verb = "would purge" if report.dry_run else "purged"
    click.echo(
        f"{verb} {len(report.purged)} instances ({_mb(report.purged_bytes)}); "
        f"kept {report.kept} ({_mb(report.kept_bytes)})"
    )
    if report.purged:
        newest = max(e.received_at for e in report.purged)
        click.echo(f"newest purged was received {_when(newest)}")
    if report.kept_in_flight:
        click.echo(
            f"{report.kept_in_flight} instances past the limits are still in flight "
            "(not processed yet) and were kept"
        )


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.command(short_help="Run stored instances through the current routes and models again.")
@click.argument("uid")
@state_dir_option(default=DEFAULT_STATE_DIR, help=_STATE_DIR_HELP)
def reprocess(uid: str, state_dir: Path) -> None:
    """Process the stored instances of a study, series or instance UID again.

    The request is queued in the instance store; the service runs the
    instances through the routes and models it has now (a new result
    version per study) within a couple of seconds, or when it next starts.

    \b
    Example:
      streamgale reprocess 1.2.826.0.1.3680043.8.498.1 --state-dir .streamgale
    """
    covered = request_reprocess(instances_dir(state_dir), uid)
    click.echo(
        f"queued {len(covered)} instance{'s' if len(covered) != 1 else ''} of {uid} for "
        "reprocessing; a running service takes them within seconds, a stopped one when it "
        "next starts"
    )
