"""Running a radiology app in a test: settings, start it, send to it, wait for results, stop it."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from streamgale.dicom.radiology.pipeline import RadiologySettings
from streamgale.inference import ModelConfig, load_model_config
from streamgale.service import RadiologyService
from tests.inference.onnx_models import segmenter


def organs_model(folder: Path, **options: Any) -> ModelConfig:
    """The small ``organs`` segmenter (32x32, lung window); ``options`` go to :func:`segmenter`."""
    return load_model_config(
        segmenter(folder, size=32, preprocessing={"voi": "lung", "size": [32, 32]}, **options)
    )


def fast_settings(root: Path, **fields: Any) -> RadiologySettings:
    """Settings of a test app: state in ``root/state``, input from the ``root/inbox`` folder
    (no DIMSE or STOW-RS listener), a study complete after 0.5 s of quiet, a checkpoint every
    0.2 s. ``fields`` add or override (``dimse=ScpConfig(port=0), folder=None`` to listen)."""
    defaults: dict[str, Any] = {
        "state_dir": root / "state",
        "dimse": None,
        "stow": None,
        "folder": root / "inbox",
        "quiet_seconds": 0.5,
        "checkpoint_interval": 0.2,
    }
    return RadiologySettings(**{**defaults, **fields})


@contextmanager
def running(settings: RadiologySettings) -> Iterator[RadiologyService]:
    """A started app (doors open), stopped and joined on exit."""
    app = RadiologyService(settings)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        assert app.ready.wait(30), "the radiology app did not start within 30 s"
        yield app
    finally:
        app.stop()
        thread.join(30)


def wait_for_results(app: RadiologyService, n: int, timeout: float = 60.0) -> None:
    """Wait until the app produced ``n`` results (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while len(app.summaries) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(app.summaries) >= n, f"only {len(app.summaries)} results after {timeout} s"


def storescu() -> str:
    """dcmtk's storescu, a real DIMSE peer; the test fails (not skips) without it."""
    path = shutil.which("storescu")
    if path is None:
        pytest.fail("storescu is missing: install dcmtk (make test does: apt-get install dcmtk)")
    return path


def send_with_storescu(app: RadiologyService, files: list[Path]) -> None:
    """Send ``files`` to the app's DIMSE listener in one association, as modality MODALITY."""
    assert app.scp is not None
    command = [storescu(), "-aet", "MODALITY", "-aec", "STREAMGALE", "127.0.0.1"]
    done = subprocess.run(
        [*command, str(app.scp.port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
