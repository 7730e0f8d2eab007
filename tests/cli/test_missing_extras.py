"""A missing optional package: one quick error naming every extra the feature needs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.cli import EXAMPLES

_RADIOLOGY = "pip install 'streamgale[dicom,inference,lake]'"


def _without(module: str, *args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """``streamgale ARGS`` in an interpreter where importing ``module`` fails, as if not
    installed (a None entry in sys.modules makes every import of it raise ImportError)."""
    program = f"import sys; sys.modules[{module!r}] = None; from streamgale.cli import main; main()"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", program, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize("module", ["pydicom", "onnxruntime", "pyarrow"])
def test_running_a_radiology_file_names_all_its_extras(module: str, tmp_path: Path) -> None:
    done, _ = _without(
        module,
        "run",
        str(EXAMPLES / "radiology.yaml"),
        "--state-dir",
        str(tmp_path / "state"),
        *("--dicom-port", "0", "--stow-port", "0", "--dashboard-port", "0"),
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert f"needs the optional package '{module}'" in done.stderr
    assert done.stderr.strip().endswith(_RADIOLOGY), done.stderr


@pytest.mark.parametrize("module", ["pydicom", "pyarrow", "duckdb"])
def test_the_radiology_demo_fails_at_once_naming_all_its_extras(
    module: str, tmp_path: Path
) -> None:
    args = ("demo", "radiology", "--no-serve", "--state-dir", str(tmp_path / "demo"))
    done, took = _without(module, *args, "--studies", "1", "--slices", "2", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("pip install 'streamgale[dicom,inference,lake,sql]'")
    assert took < 15  # it used to wait 60 s for a start that had already failed
