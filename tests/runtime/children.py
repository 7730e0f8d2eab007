"""Pipeline processes for crash tests: a script run by this interpreter, then killed.

The scripts take ``LOG_DIR OUT STATE`` and print ``processing`` once the
runtime has started reading, the moment from which a kill lands in its work.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path


def start_pipeline(script: Path, log_dir: Path, out: Path, state: Path) -> subprocess.Popen[str]:
    """``script`` in a child process that imports this checkout (and the tests) as we do."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(script), str(log_dir), str(out), str(state)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(script.parent),
    )


def wait_for_processing(child: subprocess.Popen[str], timeout: float = 30.0) -> bool:
    """Whether ``child`` printed ``processing`` within ``timeout`` seconds."""
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    return bool(ready) and child.stdout.readline().strip() == "processing"
