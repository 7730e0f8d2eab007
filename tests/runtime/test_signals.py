"""SIGTERM and SIGINT drain in-flight work and commit before the process exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamgale.state.file import FileStateStore

SCRIPT = """
import sys
from pathlib import Path
from streamgale import Pipeline, RuntimeConfig
from streamgale.connectors import JsonLinesSink
from streamgale.testing import TestingSource
out, state = Path(sys.argv[1]), Path(sys.argv[2])
p = Pipeline("sig")
p.source("in", TestingSource([{"i": i} for i in range(10_000_000)], batch_size=50)).map(
    "copy", dict).sink("out", JsonLinesSink(out))
print("running", flush=True)
p.run(RuntimeConfig(state_dir=state, checkpoint_interval=60))
print("stopped", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_drains_and_commits(tmp_path: Path, sig: signal.Signals) -> None:
    out, state = tmp_path / "out.jsonl", tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out), str(state)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "running"
    time.sleep(1.0)
    child.send_signal(sig)
    assert child.wait(timeout=30) == 0
    assert child.stdout.read().strip() == "stopped"
    # Checkpoints were 60 s apart, so only the shutdown commit can explain this:
    snapshot = FileStateStore(state / "snapshots").load()
    assert snapshot is not None
    written = [json.loads(line)["i"] for line in out.read_text().splitlines()]
    assert written == list(range(len(written)))
    assert snapshot.sources["in/0"] == len(written) > 0
