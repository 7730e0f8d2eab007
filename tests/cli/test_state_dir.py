"""One state place for every command: ``.streamgale`` unless ``--state-dir`` says otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streamgale.cli import main
from streamgale.cli.options import DEFAULT_STATE_DIR

READERS = [
    ("results", "list"),
    ("results", "show", "r-1"),
    ("quarantine", "list"),
    ("quarantine", "show", "abc"),
    ("dlq", "list"),
    ("dlq", "show", "1"),
    ("sql", "SELECT 1"),
    ("report", "errors"),
    ("lake", "tables"),
    ("lake", "compact"),
    ("dashboard", "reset-token"),
]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_state_dir_that_does_not_exist_is_an_error_not_an_empty_answer(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "typo"
    result = CliRunner().invoke(main, [*command, "--state-dir", str(missing)], env={})
    assert result.exit_code == 2, result.output
    assert str(missing) in result.stderr
    assert not missing.exists()  # looking creates nothing


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_every_command_reads_the_one_default_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.chdir(tmp_path)
    for variable in ("STREAMGALE_STATE_DIR", "STREAMGALE_LAKE"):
        monkeypatch.delenv(variable, raising=False)
    result = CliRunner().invoke(main, list(command))
    assert result.exit_code == 2, result.output  # nothing there yet: says where it looked
    assert str(DEFAULT_STATE_DIR) in result.stderr
