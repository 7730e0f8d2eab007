"""Every command the README, the examples' headers and ``--help`` show, run as a user types it.

The commands are read from those documents, so a new example is run too. They
run through bash (pipes to ``jq``, ``&&`` as written) with the installed
``streamgale`` first on PATH, in one prepared working directory:

- a copy of ``examples/``;
- the radiology example run once from there (state in ``.streamgale``, the
  default every command reads), sent one study and three instances it
  quarantines, stopped with Ctrl-C; its lake copied to an S3 bucket (moto)
  for the ``--lake s3://...`` examples;
- the sensors example run, which leaves a dead letter.

What a document leaves to the reader is filled in: ``r-...`` is the real
result id, ``3f9c2a7b1d4e8f60`` a real quarantine id, ``1.2.3...`` the real
study UID, ``/tmp/...`` a folder of the test, ``pipeline.yaml`` the sensors
example. A radiology ``run`` gets free ports and ``--stop-after 2s``, since
it would otherwise serve until Ctrl-C, and a radiology demo sends one small
study (``--studies 1 --slices 4``). Every command must exit 0.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from streamgale.cli import main
from streamgale.dicom.synthetic import ct_series, write_instances
from tests.cli.cli import EXAMPLES, REPO, STREAMGALE, streamgale
from tests.cli.test_run_radiology import Lines, _send, _test_copy_of_the_example, _until
from tests.s3server import moto_s3

README = REPO / "README.md"


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` outside quotes, after a space)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _join_continuations(lines: list[str]) -> list[str]:
    joined: list[str] = []
    pending = ""
    for line in lines:
        text = f"{pending} {line.strip()}".strip() if pending else line.strip()
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
            continue
        pending = ""
        joined.append(text)
    return joined


def _readme_commands() -> list[str]:
    commands, in_shell = [], False
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            in_shell = line.strip() == "```sh"
        elif in_shell and line.startswith("streamgale "):
            commands.append(_strip_comment(line))
    return commands


def _example_header_commands() -> list[str]:
    commands = []
    for example in sorted(EXAMPLES.glob("*.yaml")):
        for line in example.read_text().splitlines():
            if not line.startswith("#"):
                break  # the header ends where the YAML starts
            text = line.lstrip("#").strip()
            if text.startswith("streamgale "):
                commands.append(_strip_comment(text))
    return commands


def _help_commands() -> list[str]:
    commands = []
    todo: list[tuple[tuple[str, ...], click.Command]] = [((), main)]
    while todo:
        path, command = todo.pop()
        ctx = click.Context(command, info_name=" ".join(("streamgale", *path)))
        text = command.get_help(ctx)
        lines = [line for line in text.splitlines() if line.strip()]
        for line in _join_continuations(lines):
            if line.startswith("streamgale "):
                commands.append(_strip_comment(line))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                todo.append(((*path, name), sub))
    return commands


def documented_commands() -> list[str]:
    """Each distinct command the documents show, with ``a && b`` as written."""
    seen: dict[str, None] = {}
    for command in [*_readme_commands(), *_example_header_commands(), *_help_commands()]:
        seen.setdefault(" ".join(command.split()), None)
    return list(seen)


_MUTATES = ("release", "replay", "compact", "retention", "purge", "reset-token", "reprocess")


def _order(command: str) -> int:
    """Reads first, on the state as prepared; then what writes; discarding last."""
    if command.startswith("streamgale run examples/sensors.yaml"):
        return 0  # the dlq examples read the state it leaves
    if " discard " in command:
        return 4
    if any(f" {word}" in command for word in _MUTATES):
        return 3
    if command.startswith(("streamgale run", "streamgale demo")):
        return 2
    return 1


@dataclass(frozen=True)
class World:
    folder: Path
    result_id: str
    study_uid: str
    quarantined: tuple[str, ...]
    dead_letters: tuple[int, ...]
    s3_url: str

    def fill_in(self, command: str) -> str:
        """The command with what the document leaves to the reader filled in."""
        q1, q2, q3 = self.quarantined
        text = command.replace("r-3f2a...", self.result_id).replace("r-...", self.result_id)
        if " discard " in text:  # one entry is discarded, after the others were used
            text = text.replace("3f9c2a7b1d4e8f60", q3)
        text = text.replace("3f9c2a7b1d4e8f60", q1).replace("a1b2c3d4e5f60718", q2)
        text = text.replace("<id>", q1)
        text = text.replace("1.2.826.0.1.3680043.8.498.1", self.study_uid)
        text = text.replace("1.2.3...", self.study_uid)
        text = text.replace("http://127.0.0.1:9000", self.s3_url)
        text = re.sub(r"/tmp/(\w+)", lambda m: str(self.folder / "tmp" / m[1]), text)
        text = re.sub(r"\bpipeline\.yaml\b", "examples/sensors.yaml", text)
        text = re.sub(r"dlq (show|replay)((?: \d+)+)", self._dead_letter_ids, text)
        if text.startswith("streamgale run examples/radiology.yaml"):
            text += " --dicom-port 0 --stow-port 0 --dashboard-port 0 --stop-after 2s"
        if text.startswith("streamgale demo") and " sensors" not in text:
            text += " --studies 1 --slices 4"  # the same demo, smaller: seconds, not tens
        return text

    def _dead_letter_ids(self, match: re.Match[str]) -> str:
        ids = [self.dead_letters[(int(n) - 1) % len(self.dead_letters)] for n in match[2].split()]
        return f"dlq {match[1]} {' '.join(map(str, ids))}"


def _without_pixels(folder: Path, n: int) -> list[Path]:
    """Instances the validation quarantines: CT images whose pixel data is missing."""
    series = ct_series(slices=n, size=32, seed=77, patient_id="SG-NOPIXELS")
    for ds in series:
        del ds.PixelData
    return write_instances(series, folder)


def _json(*args: str | Path, cwd: Path) -> object:
    done = streamgale(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


_FREE_PORTS = ("--dicom-port", "0", "--stow-port", "0", "--dashboard-port", "0")


def _answers(folder: Path, *args: str, expected: object) -> bool:
    """Whether ``streamgale ARGS`` answers ``expected`` (JSON) yet; an error is a no."""
    done = streamgale(*args, cwd=folder)
    return done.returncode == 0 and json.loads(done.stdout) == expected


def _run_radiology(folder: Path) -> tuple[str, str]:
    """Run the radiology example in ``folder`` with a study and three bad instances."""
    process = subprocess.Popen(
        [STREAMGALE, "run", str(_test_copy_of_the_example(folder)), *_FREE_PORTS],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        err, out = Lines(process.stderr), Lines(process.stdout)
        port = int(err.wait_for(r"^DIMSE: AE STREAMGALE on 127\.0\.0\.1:(\d+)$")[1])
        series = ct_series(slices=4, size=64, lesion=True, seed=5)
        study = str(series[0].StudyInstanceUID)
        _send(port, write_instances(series, folder / "send" / "study"))
        _send(port, _without_pixels(folder / "send" / "bad", 3))
        out.wait_for(rf"^{re.escape(study)}: demo-lesion v1: ")
        quarantined = ("quarantine", "list", "--json", "--status", "quarantined")
        counted = ("sql", "SELECT count(*) AS n FROM results", "--format", "json")
        _until(
            lambda: (
                _answers(folder, *counted, expected=[{"n": 1}])
                and len(_json(*quarantined, cwd=folder)) == 3
            ),  # type: ignore[arg-type]
            "the result in the lake and three quarantined instances",
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    [result] = _json("results", "list", "--json", cwd=folder)  # type: ignore[misc]
    return str(result["result_id"]), study


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("world")
    shutil.copytree(EXAMPLES, folder / "examples", ignore=shutil.ignore_patterns(".streamgale"))
    (folder / "tmp").mkdir()
    result_id, study = _run_radiology(folder)
    quarantined = tuple(e["id"] for e in _json("quarantine", "list", "--json", cwd=folder))  # type: ignore[attr-defined]
    sensors = streamgale("run", "examples/sensors.yaml", cwd=folder)
    assert sensors.returncode == 0, sensors.stderr
    letters = _json(
        "dlq", "list", "--json", "--state-dir", "examples/.streamgale/sensors", cwd=folder
    )
    with moto_s3() as s3_url:
        import s3fs

        bucket = s3fs.S3FileSystem(endpoint_url=s3_url)
        bucket.mkdir("bucket")
        bucket.put(f"{folder / '.streamgale' / 'lake'}/", "bucket/lake", recursive=True)
        yield World(
            folder=folder,
            result_id=result_id,
            study_uid=study,
            quarantined=quarantined,
            dead_letters=tuple(d["id"] for d in letters),  # type: ignore[attr-defined]
            s3_url=s3_url,
        )


COMMANDS = sorted(documented_commands(), key=_order)
_PARAMS = [
    pytest.param(c, marks=pytest.mark.slow) if c.startswith("streamgale demo") else c
    for c in COMMANDS
]


def test_the_documents_show_the_commands_users_need() -> None:
    for needed in (
        "streamgale run examples/radiology.yaml",
        "streamgale validate examples/radiology.yaml",
        "streamgale results list",
        "streamgale quarantine list",
        "streamgale demo",
    ):
        assert needed in COMMANDS


@pytest.mark.parametrize("command", _PARAMS)
def test_a_documented_command_runs(world: World, command: str) -> None:
    typed = world.fill_in(command)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGALE_")}
    environment["PATH"] = f"{Path(STREAMGALE).parent}{os.pathsep}{environment['PATH']}"
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {typed}"],
        cwd=world.folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{typed}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr


def test_results_list_on_a_narrow_terminal_keeps_the_whole_id(world: World) -> None:
    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGALE_")}
    process = subprocess.Popen(
        [STREAMGALE, "results", "list"],
        cwd=world.folder,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**environment, "COLUMNS": "60", "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(30) == 0
    screen = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode())
    assert "─" in screen  # a terminal gets the drawn table
    assert world.result_id in screen  # the id `results show` needs, whole


def test_the_documents_name_the_one_default_state_place() -> None:
    # .streamgale/radiology was the radiology default once; every command reads .streamgale.
    stale = [c for c in COMMANDS if ".streamgale/radiology" in c]
    assert stale == []
