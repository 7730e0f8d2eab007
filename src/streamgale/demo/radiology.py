"""``streamgale demo``: the radiology pipeline on embedded defaults.

Starts a DIMSE listener (AE title STREAMGALE, port 11112, or a free port if
that one is taken) and a STOW-RS endpoint, loads the demo lesion model once,
then sends a few synthetic chest CT studies over DIMSE with a progress bar,
as a scanner would. Each study comes back as findings with per-stage
latencies, a TID 1500 SR and, where the model finds a lesion, a SEG in the
same study. Nothing here needs any setup beyond ``make demo``.

The model is a DEMO model trained on synthetic phantoms; it is not for
clinical use. Bring your own model for real work.
"""

from __future__ import annotations

import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from streamgale.dicom.delivery import DimseDestination
from streamgale.dicom.delivery.cstore import c_store
from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.radiology import RadiologyApp, RadiologySettings, ResultSummary, StowSettings
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series
from streamgale.inference import load_model_config
from streamgale.models import demo_model_config_path

__all__ = ["DemoStudy", "main"]

_PORT = 11112
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
) -> int:
    """Run the demo; returns a process exit code (1 if a study got no result)."""
    console = console or Console()
    root = state_dir or Path(tempfile.mkdtemp(prefix="streamgale-radiology-"))
    port = _PORT if _free(_PORT) else 0
    settings = RadiologySettings(
        state_dir=root,
        models=(load_model_config(demo_model_config_path()),),
        routes=(
            Route(
                "chest-ct",
                modalities=frozenset({"CT"}),
                body_parts=frozenset({"CHEST"}),
                models=("demo-lesion",),
            ),
        ),
        dimse=ScpConfig(ae_title="STREAMGALE", port=port),
        stow=StowSettings(port=0),
        quiet_seconds=10.0,
        checkpoint_interval=0.5,
        metrics_port=0,
        demo=True,
    )
    done = threading.Event()
    plan = [
        DemoStudy(f"SG-DEMO-{i + 1:03d}", lesion=i % 2 == 0, seed=100 + i) for i in range(studies)
    ]
    app = RadiologyApp(settings, on_result=lambda _: _count(app, len(plan), done))
    thread = threading.Thread(target=app.run, name="radiology", daemon=True)
    thread.start()
    if not app.ready.wait(60):
        console.print("[red]the pipeline did not start within 60 s[/]")
        return 1
    _say_listening(console, app)
    sent = _send(console, app, plan, slices)
    done.wait(120)
    quarantined = sum(app.quarantine.counts().values())
    app.stop()
    thread.join(60)
    _report(console, app, plan=plan, sent=sent, root=root, quarantined=quarantined)
    return 0 if len(app.summaries) >= len(plan) else 1


def _count(app: RadiologyApp, expected: int, done: threading.Event) -> None:
    if len(app.summaries) >= expected:
        done.set()


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _say_listening(console: Console, app: RadiologyApp) -> None:
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


def _send(console: Console, app: RadiologyApp, plan: list[DemoStudy], slices: int) -> list[str]:
    """Send every study over DIMSE (one association each); return their Study Instance UIDs."""
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
            )
            c_store(destination, series)  # one association: its release completes the study
            progress.advance(task, slices)
            sent.append(str(series[0].StudyInstanceUID))
    return sent


def _report(
    console: Console,
    app: RadiologyApp,
    *,
    plan: list[DemoStudy],
    sent: list[str],
    root: Path,
    quarantined: int,
) -> None:
    by_study = {s.study_instance_uid: s for s in app.summaries}
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
    console.print(f"List them: streamgale results list --state-dir {root}")
    console.print(
        f"Quarantined inputs: {quarantined} (streamgale quarantine list --state-dir {root})"
    )


def _truth(study: DemoStudy) -> str:
    return "lesion" if study.lesion else "none"
