"""``streamgale demo``: the radiology pipeline on embedded defaults.

Starts a DIMSE listener (AE title STREAMGALE, port 11112, or a free port if
that one is taken) and a STOW-RS endpoint, loads the demo lesion model once,
then sends a few synthetic chest CT studies over DIMSE with a progress bar,
as a scanner would. Each study comes back as findings with per-stage
latencies, a TID 1500 SR and, where the model finds a lesion, a SEG in the
same study. The demo model runs beside a more sensitive version of itself in
shadow mode (only A's results are delivered; both land in the lake), and the
web dashboard is served while it runs. Nothing here needs any setup beyond
``make demo``.

The model is a DEMO model trained on synthetic phantoms; it is not for
clinical use. Bring your own model for real work.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from streamgale.dicom.delivery import DimseDestination
from streamgale.dicom.delivery.cstore import c_store
from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.radiology import (
    DashboardSettings,
    RadiologySettings,
    ResultSummary,
    StowSettings,
)
from streamgale.dicom.routing import ABMode, ABTest, Route
from streamgale.dicom.synthetic import ct_series
from streamgale.inference import load_model_config
from streamgale.models import demo_model_config_path
from streamgale.service import RadiologyService, radiology_extras, require_extras

__all__ = ["DemoStudy", "main"]

_PORT = 11112
_DASHBOARD_PORT = 8080
_MODEL_A, _MODEL_B = "demo-lesion", "demo-lesion-sensitive"
_STAGES = {
    "prep": "preprocess",
    "queue": "queue",
    "infer": "infer",
    "SR/SEG": "results",
    "last→result": "last_instance_to_result",
}
"""Column -> timing key; per-instance stages are means, in milliseconds."""


@dataclass(frozen=True)
class DemoStudy:
    patient_id: str
    lesion: bool
    seed: int


def main(
    studies: int = 4,
    slices: int = 24,
    state_dir: Path | None = None,
    console: Console | None = None,
    serve: bool | None = None,
) -> int:
    """Run the demo; returns a process exit code (1 if a study got no result).

    ``serve`` keeps the pipeline and its dashboard up after the report until
    Ctrl-C; by default only when the console is interactive.
    """
    console = console or Console()
    root = state_dir or Path(tempfile.mkdtemp(prefix="streamgale-radiology-"))
    settings = _settings(root)
    done = threading.Event()
    plan = [
        DemoStudy(f"SG-DEMO-{i + 1:03d}", lesion=i % 2 == 0, seed=100 + i) for i in range(studies)
    ]
    # Model A and its shadow B each give one result per study.
    # The A/B comparison reads the lake with SQL: say so before anything starts.
    require_extras("the radiology demo", (*radiology_extras(settings), "sql"))
    app = RadiologyService(settings, on_result=lambda _: _count(app, 2 * len(plan), done))
    thread = threading.Thread(target=app.run, name="radiology", daemon=True)
    thread.start()
    if not app.wait_ready(60):  # a failed start raises here at once
        console.print("[red]the pipeline did not start within 60 s[/]")
        return 1
    _say_listening(console, app)
    sent = _send(console, app, plan, slices)
    done.wait(120)
    quarantined = sum(app.quarantine.counts().values())
    _report(console, app, plan=plan, sent=sent, root=root, quarantined=quarantined)
    _compare_models(console, app)
    if serve if serve is not None else console.is_interactive:
        _serve(console, app)
    app.stop()
    thread.join(60)
    return 0 if len(_model_a(app)) >= len(plan) else 1


def _settings(root: Path) -> RadiologySettings:
    return RadiologySettings(
        state_dir=root,
        models=(
            load_model_config(demo_model_config_path()),
            load_model_config(demo_model_config_path(_MODEL_B)),
        ),
        routes=(
            Route(
                "chest-ct",
                modalities=frozenset({"CT"}),
                body_parts=frozenset({"CHEST"}),
                ab=ABTest(_MODEL_A, _MODEL_B, mode=ABMode.SHADOW),
            ),
        ),
        dimse=ScpConfig(ae_title="STREAMGALE", port=_PORT if _free(_PORT) else 0),
        stow=StowSettings(port=0),
        dashboard=DashboardSettings(port=_DASHBOARD_PORT if _free(_DASHBOARD_PORT) else 0),
        quiet_seconds=10.0,
        checkpoint_interval=0.5,
        metrics_port=0,
        demo=True,
    )


def _count(app: RadiologyService, expected: int, done: threading.Event) -> None:
    if app.results_built >= expected:
        done.set()


def _model_a(app: RadiologyService) -> list[ResultSummary]:
    return [s for s in app.summaries if s.model == _MODEL_A]


def _compare_models(console: Console, app: RadiologyService) -> None:
    """Model A against its shadow B, from the lake, with the canned ``ab`` report."""
    from streamgale.sql import SqlEngine

    time.sleep(2 * app.settings.checkpoint_interval + 0.5)  # let the last rows land
    with SqlEngine(app.lake_root, storage_options=app.settings.lake_options) as sql:
        result = sql.report("ab")
    table = Table(title="A/B in shadow mode, from the lake (streamgale report ab)")
    for header in _AB_COLUMNS.values():
        table.add_column(header, no_wrap=True)
    for row in result.to_dicts():
        table.add_row(*(_cell(row[key]) for key in _AB_COLUMNS))
    console.print(table)
    console.print("agree: share of instances where both models gave the same answer")


_AB_COLUMNS = {
    "variant": "arm",
    "model": "model",
    "delivered": "delivered",
    "instances": "n",
    "latency_p50_ms": "p50 ms",
    "latency_p95_ms": "p95 ms",
    "positive_rate": "positive",
    "agreement": "agree",
}


def _cell(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _serve(console: Console, app: RadiologyService) -> None:
    console.print(
        "The pipeline and its dashboard stay up: send more with storescu, "
        "query with streamgale sql; Ctrl-C stops."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping: draining and committing")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _say_listening(console: Console, app: RadiologyService) -> None:
    console.print(
        "[bold]StreamGale radiology demo[/] (DEMO model, synthetic data, not for clinical use)"
    )
    if app.scp is not None:
        console.print(f"DIMSE C-STORE SCP: AE STREAMGALE on 127.0.0.1:{app.scp.port}")
    if app.stow is not None:
        console.print(f"STOW-RS: {app.stow.url}/studies")
    server = app.runtime.metrics.server
    if server is not None:
        console.print(f"Prometheus metrics: {server.url}")
    if app.dashboard is not None:
        console.print(f"[bold]Dashboard: {app.dashboard.url}[/]")
        if app.dashboard.first_token:
            console.print(f"Dashboard admin token (shown once): {app.dashboard.first_token}")


def _send(console: Console, app: RadiologyService, plan: list[DemoStudy], slices: int) -> list[str]:
    """Send every study over DIMSE (one association each); return their Study Instance UIDs."""
    from pydicom.uid import generate_uid

    assert app.scp is not None
    destination = DimseDestination(
        name="streamgale",
        host="127.0.0.1",
        port=app.scp.port,
        ae_title="STREAMGALE",
        calling_ae="DEMO_CT",
    )
    sent: list[str] = []
    with Progress(console=console) as progress:
        task = progress.add_task("sending CT studies over DIMSE", total=len(plan) * slices)
        for study in plan:
            series = ct_series(
                slices=slices,
                size=512,
                lesion=study.lesion,
                seed=study.seed,
                patient_id=study.patient_id,
                # New UIDs each run: a second run in the same --state-dir must not be
                # taken for a resend of the first (duplicates make no new results).
                study_uid=generate_uid(),
            )
            c_store(destination, series)  # one association: its release completes the study
            progress.advance(task, slices)
            sent.append(str(series[0].StudyInstanceUID))
    return sent


def _report(
    console: Console,
    app: RadiologyService,
    *,
    plan: list[DemoStudy],
    sent: list[str],
    root: Path,
    quarantined: int,
) -> None:
    by_study = {s.study_instance_uid: s for s in _model_a(app)}
    table = Table(title="AI results per study (DEMO model demo-lesion 1.0.0), times in ms")
    for col in ("patient", "truth", "AI", "p", "n", *_STAGES):
        table.add_column(col, no_wrap=True)
    for study, uid in zip(plan, sent, strict=True):
        summary: ResultSummary | None = by_study.get(uid)
        if summary is None:
            table.add_row(
                study.patient_id, _truth(study), "[red]no result[/]", "", "", *[""] * len(_STAGES)
            )
            continue
        finding = "[red]lesion[/]" if summary.present else "clear"
        table.add_row(
            study.patient_id,
            _truth(study),
            finding,
            f"{summary.probability:.2f}",
            str(summary.instances),
            *(f"{summary.timings_ms.get(key, 0.0):.1f}" for key in _STAGES.values()),
        )
    console.print(table)
    console.print(
        "prep/queue/infer: per-instance means; SR/SEG: building and storing the results; "
        "last→result: from the study's last instance arriving to its results stored"
    )
    console.print(f"Results (JSON, SR, SEG): {root / 'results'}")
    console.print(
        f"Lake (Parquet: telemetry, inferences, results): {app.lake_root}\n"
        f"  streamgale report stage-latency --lake {app.lake_root}\n"
        f'  streamgale sql "SELECT stage, count(*) FROM telemetry GROUP BY 1" '
        f"--lake {app.lake_root}"
    )
    console.print(f"List them: streamgale results list --state-dir {root}")
    console.print(
        f"Quarantined inputs: {quarantined} (streamgale quarantine list --state-dir {root})"
    )


def _truth(study: DemoStudy) -> str:
    return "lesion" if study.lesion else "none"
