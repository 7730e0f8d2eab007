"""``streamgale dlq``: list, show and replay letters of a real store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from streamgale.cli import main
from streamgale.deadletter import DeadLetterStatus, DeadLetterStore
from tests.cli.cli import STREAMGALE


def _error(exc: Exception) -> Exception:
    """An exception with a traceback, as the runtime would store it."""
    try:
        raise exc
    except Exception as raised:
        return raised


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A store with three letters: ids 1 and 2 of sensors, 3 of another pipeline."""
    state = tmp_path / "state"
    store = DeadLetterStore(state / "deadletters.sqlite")
    store.add(
        "sensors",
        "parse",
        {"sensor": "s2", "temp_f": "n/a", "tags": ["bold"]},
        _error(ValueError("could not convert string to float: 'n/a'")),
        batch=False,
    )
    store.add("sensors", "enrich", {"sensor": "s9"}, _error(KeyError("s9")), batch=False)
    store.add("billing", "parse", "[bold]not markup[/bold]", _error(TypeError("bad")), batch=False)
    store.flush()
    store.close()
    return state


def _dlq(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["dlq", *args], env=env)


def _statuses(state_dir: Path) -> dict[int, str]:
    store = DeadLetterStore(state_dir / "deadletters.sqlite")
    try:
        return {letter.id: letter.status.value for letter in store.list()}
    finally:
        store.close()


def test_list_prints_a_table(state_dir: Path) -> None:
    result = _dlq("list", "--state-dir", str(state_dir))

    assert result.exit_code == 0, result.output
    # Not a terminal: plain tab-separated rows, a header first, nothing cut.
    header, *rows = result.stdout.splitlines()
    for column in ("id", "pipeline", "step", "error", "created", "status", "payload"):
        assert column in header.split("\t")
    assert len(rows) == 3
    assert all(len(row.split("\t")) == len(header.split("\t")) for row in rows)
    assert all(cell in rows[0] for cell in ("1", "sensors", "parse", "ValueError", "new"))
    assert "could not convert string to float" in rows[0]
    assert "'temp_f': 'n/a'" in rows[0]
    assert "KeyError" in rows[1] and "enrich" in rows[1]
    assert "[bold]not markup[/bold]" in rows[2]  # payload text is shown, not styled


def test_list_json_and_filters(state_dir: Path) -> None:
    result = _dlq("list", "--state-dir", str(state_dir), "--json", "--step", "parse")

    assert result.exit_code == 0, result.output
    letters = json.loads(result.stdout)
    assert [(d["id"], d["pipeline"], d["step"]) for d in letters] == [
        (1, "sensors", "parse"),
        (3, "billing", "parse"),
    ]
    first = letters[0]
    assert first["error_type"] == "ValueError" and first["status"] == "new"
    assert first["payload"] == "{'sensor': 's2', 'temp_f': 'n/a', 'tags': ['bold']}"
    assert isinstance(first["created_at"], float)

    only_billing = json.loads(
        _dlq("list", "--state-dir", str(state_dir), "--json", "--pipeline", "billing").stdout
    )
    assert [d["id"] for d in only_billing] == [3]


def test_list_status_filter_and_empty_result(state_dir: Path) -> None:
    result = _dlq("list", "--state-dir", str(state_dir), "--status", "replay")
    assert result.exit_code == 0
    assert result.stdout.startswith("no dead letters match (store: ")

    result = _dlq("list", "--state-dir", str(state_dir), "--status", "later")
    assert result.exit_code == 2
    assert "'later' is not one of 'new', 'replay', 'replayed'" in result.stderr


def test_list_limit_says_there_may_be_more(state_dir: Path) -> None:
    result = _dlq("list", "--state-dir", str(state_dir), "--limit", "1")
    assert result.exit_code == 0
    assert sum("\tsensors\t" in line for line in result.stdout.splitlines()) == 1
    assert "showing the first 1; use --limit to see more" in result.stdout


def test_state_dir_comes_from_the_environment(state_dir: Path) -> None:
    result = _dlq("list", "--json", env={"STREAMGALE_STATE_DIR": str(state_dir)})
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3


def test_default_state_dir_is_dot_streamgale(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir.rename(state_dir.parent / ".streamgale")
    monkeypatch.chdir(state_dir.parent)
    result = _dlq("list", "--json", env={"STREAMGALE_STATE_DIR": None})  # type: ignore[dict-item]
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3


def test_show_prints_everything(state_dir: Path) -> None:
    result = _dlq("show", "1", "--state-dir", str(state_dir))

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("dead letter 1\n")
    assert "  pipeline:  sensors\n" in out and "  step:      parse\n" in out
    assert "error:     ValueError: could not convert string to float: 'n/a'" in out
    assert "traceback:\n  Traceback (most recent call last):" in out
    assert "raise exc" in out
    assert "payload:\n  {'sensor': 's2', 'temp_f': 'n/a', 'tags': ['bold']}" in out


def test_show_json_has_the_traceback_and_the_full_payload(state_dir: Path) -> None:
    result = _dlq("show", "2", "--state-dir", str(state_dir), "--json")

    assert result.exit_code == 0, result.output
    letter = json.loads(result.stdout)
    assert (letter["id"], letter["step"], letter["error_type"]) == (2, "enrich", "KeyError")
    assert "Traceback (most recent call last)" in letter["traceback"]
    assert letter["payload_repr"] == "{'sensor': 's9'}"


def test_show_unknown_id_is_one_line_and_exit_code_1(state_dir: Path) -> None:
    result = _dlq("show", "99", "--state-dir", str(state_dir))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no dead letter with id 99; run 'streamgale dlq list' to see the ids\n"
    )


def test_replay_by_id_marks_the_letters(state_dir: Path) -> None:
    result = _dlq("replay", "1", "3", "--state-dir", str(state_dir))

    assert result.exit_code == 0, result.output
    assert "marked 2 dead letter(s) for replay: ids 1, 3" in result.stdout
    assert "feeds them back into step(s) parse at its next checkpoint" in result.stdout
    assert f"its next run with --state-dir {state_dir} does" in result.stdout
    assert _statuses(state_dir) == {1: "replay", 2: "new", 3: "replay"}


def test_replay_all_with_filters_as_json(state_dir: Path) -> None:
    result = _dlq(
        "replay",
        "--all",
        "--step",
        "parse",
        "--pipeline",
        "sensors",
        "--json",
        "--state-dir",
        str(state_dir),
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "marked": 1,
        "ids": [1],
        "steps": ["parse"],
        "state_dir": str(state_dir),
    }
    assert _statuses(state_dir) == {1: "replay", 2: "new", 3: "new"}


def test_replay_all_skips_letters_already_replayed(state_dir: Path) -> None:
    store = DeadLetterStore(state_dir / "deadletters.sqlite")
    store.mark_replayed([1, 2, 3])
    store.close()

    result = _dlq("replay", "--all", "--state-dir", str(state_dir))
    assert result.exit_code == 0
    assert result.stdout == "no new dead letters match; nothing to replay\n"

    result = _dlq("replay", "2", "--state-dir", str(state_dir))
    assert "marked 0 dead letter(s)" in result.stdout
    assert "1 were already replayed" in result.stdout
    assert _statuses(state_dir)[2] == DeadLetterStatus.REPLAYED.value


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say which letters to replay"),
        (("1", "--all"), "give dead letter IDs or --all, not both"),
        (("1", "--step", "parse"), "--step and --pipeline narrow --all"),
    ],
)
def test_replay_usage_errors(state_dir: Path, args: tuple[str, ...], message: str) -> None:
    result = _dlq("replay", *args, "--state-dir", str(state_dir))
    assert result.exit_code == 2
    assert message in result.stderr
    assert set(_statuses(state_dir).values()) == {"new"}


def test_replay_unknown_id_marks_nothing(state_dir: Path) -> None:
    result = _dlq("replay", "1", "42", "--state-dir", str(state_dir))
    assert result.exit_code == 1
    assert "no dead letter with id 42" in result.stderr
    assert set(_statuses(state_dir).values()) == {"new"}


@pytest.mark.parametrize("command", [("list",), ("show", "1"), ("replay", "--all")])
def test_a_missing_store_says_where_it_looked(tmp_path: Path, command: tuple[str, ...]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    result = _dlq(*command, "--state-dir", str(empty))

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no dead-letter store at {empty / 'deadletters.sqlite'}; point at the "
        "pipeline's state directory with --state-dir DIR or STREAMGALE_STATE_DIR\n"
    )
    assert list(empty.iterdir()) == []  # looking must not create a store


@pytest.mark.parametrize("command", [("list",), ("show", "1"), ("replay", "--all")])
def test_a_state_dir_that_does_not_exist_is_a_usage_error(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "nothing-here"
    result = _dlq(*command, "--state-dir", str(missing))
    assert result.exit_code == 2
    assert f"Directory '{missing}' does not exist" in result.stderr
    assert not missing.exists()


def test_a_missing_store_names_the_stores_below(state_dir: Path) -> None:
    result = _dlq("list", "--state-dir", str(state_dir.parent))
    assert result.exit_code == 1
    assert f"stores were found in: {state_dir}" in result.stderr


@pytest.mark.parametrize("command", [("dlq", "show", "1"), ("dlq", "list")])
def test_a_reader_that_goes_away_ends_the_command_quietly(
    state_dir: Path, command: tuple[str, ...]
) -> None:
    # As `streamgale dlq show 1 | head -1` once head has its line: the pipe is closed.
    process = subprocess.Popen(
        [STREAMGALE, *command, "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command writes: its first write meets a closed pipe
    error = process.stderr.read()
    assert process.wait(30) == 0
    assert error == ""
