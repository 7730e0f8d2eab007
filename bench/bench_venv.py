"""The separate virtual environment that holds Bytewax for the benchmark.

Bytewax 0.21.1 pins its own dependencies, so it must not share the project's venv. The harness
calls :func:`ensure_bench_venv` before the first Bytewax run: it creates ``.bench-venv`` at the
repository root and installs the pinned packages when the venv is missing or holds the wrong
Bytewax, so one command reproduces the benchmark on a fresh machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TextIO

BYTEWAX_VERSION = "0.21.1"
PACKAGES = (f"bytewax=={BYTEWAX_VERSION}", "numpy", "psutil")
VENV_DIR_NAME = ".bench-venv"


def venv_python(root: Path) -> Path:
    """Path of the bench venv's interpreter under repository root ``root``."""
    return root / VENV_DIR_NAME / "bin" / "python"


def _has_bytewax(python: Path) -> bool:
    probe = (
        "import importlib.metadata as m, bytewax, numpy; "
        f"raise SystemExit(m.version('bytewax') != {BYTEWAX_VERSION!r})"
    )
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", probe], capture_output=True, check=False)
    return done.returncode == 0


def ensure_bench_venv(root: Path, log: TextIO = sys.stderr) -> Path:
    """Return the bench venv's interpreter, creating the venv and installing Bytewax if needed.

    Raises ``RuntimeError`` naming the failed command and its output when setup fails.
    """
    python = venv_python(root)
    if _has_bytewax(python):
        return python
    print(f"setting up {root / VENV_DIR_NAME} with {', '.join(PACKAGES)} ...", file=log)
    commands = [
        [sys.executable, "-m", "venv", str(root / VENV_DIR_NAME)],
        [str(python), "-m", "pip", "install", "--quiet", *PACKAGES],
    ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"bench venv setup failed: {' '.join(command)} exited {done.returncode}:\n"
                f"{done.stdout}{done.stderr}\nFix the cause (network? disk?) or delete "
                f"{root / VENV_DIR_NAME} and retry, or pass --skip-bytewax."
            )
    if not _has_bytewax(python):
        raise RuntimeError(
            f"{python} still cannot import bytewax {BYTEWAX_VERSION} after installing it; "
            f"delete {root / VENV_DIR_NAME} and retry."
        )
    return python
