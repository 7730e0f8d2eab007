"""The command group: help for every command, --version, and how errors are reported."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from streamgale import __version__
from streamgale.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            paths += _commands(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _commands(main)


def test_the_expected_commands_exist() -> None:
    assert set(COMMANDS) >= {
        (),
        ("run",),
        ("validate",),
        ("dlq",),
        ("dlq", "list"),
        ("dlq", "show"),
        ("dlq", "replay"),
        ("demo",),
        ("demo", "sensors"),
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "streamgale")
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert "Example" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"streamgale, version {__version__}"


def test_run_help_shows_the_environment_variables() -> None:
    output = CliRunner().invoke(main, ["run", "--help"]).output
    for variable in (
        "STREAMGALE_STATE_DIR",
        "STREAMGALE_METRICS_PORT",
        "STREAMGALE_CHECKPOINT_INTERVAL",
        "STREAMGALE_STOP_AFTER",
    ):
        assert variable in output


BROKEN = """\
pipeline: p
sources:
  readings: {type: jsonl, path: in.jsonl}
steps:
  - {id: k, key_by: sensor}
  - id: stats
    window: {tumble: 10s, time: ts}
    aggregate: {n: count}
sinks:
  out: {type: stdout}
"""


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_config_error_is_one_line_and_exit_code_2(tmp_path: Path, command: str) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(BROKEN)

    result = CliRunner().invoke(main, [command, str(path)])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path}:7, key 'steps[1].window': unknown window kind 'tumble'; "
        "allowed: tumbling, sliding, session"
    ]


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(BROKEN)

    result = CliRunner().invoke(main, ["-v", "run", str(path)])

    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: ")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    missing = tmp_path / "nope.yaml"
    assert result.stderr == (
        f"error: {missing}: cannot read the pipeline file: No such file or directory\n"
    )


def test_a_runtime_error_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    (tmp_path / "deadletters.sqlite").write_bytes(b"this is not a database" * 100)

    result = CliRunner().invoke(main, ["dlq", "list", "--state-dir", str(tmp_path)])

    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"error: cannot open dead-letter store {tmp_path / 'deadletters.sqlite'}"
    )
    assert "Traceback" not in result.output


def test_a_bad_option_value_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["run", "x.yaml", "--checkpoint-interval", "soon"])
    assert result.exit_code == 2
    assert "'soon' is not a duration; use a number of seconds" in result.stderr


def test_dashboard_reset_token_prints_a_token_that_verifies(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from streamgale.cli import main
    from streamgale.dashboard import AdminToken

    result = CliRunner().invoke(main, ["dashboard", "reset-token", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = result.output.strip().rsplit(" ", 1)[-1]
    assert AdminToken(tmp_path / "dashboard").verify(token)
    assert not AdminToken(tmp_path / "dashboard").verify(token + "x")
