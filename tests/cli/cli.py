"""Running the installed ``streamgale`` command as a user does: a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STREAMGALE = str(Path(sys.executable).parent / "streamgale")
"""The console script pip installed beside this interpreter."""

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def streamgale(
    *args: str | Path, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``streamgale ARGS`` in ``cwd`` with stdout piped (not a terminal), as CI does."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGALE_")}
    environment["COLUMNS"] = "80"  # what a terminal-less run would be told; must not cut output
    environment.update(env or {})
    return subprocess.run(
        [STREAMGALE, *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
