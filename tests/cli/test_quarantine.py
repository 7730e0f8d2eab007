"""``streamgale quarantine``: list, show, release and discard entries of a real store."""

from __future__ import annotations

import json
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from streamgale.cli import main
from streamgale.dicom.quality import QuarantineStore
from streamgale.dicom.synthetic import ct_series

WHEN = 1_767_000_000.0


def _ct_bytes() -> tuple[bytes, str, str]:
    ds = ct_series(slices=1, size=32, seed=3)[0]
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), str(ds.SOPInstanceUID), str(ds.StudyInstanceUID)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A store with a CT quarantined by inference, and garbage refused by validation."""
    state = tmp_path / "state"
    store = QuarantineStore(state / "quarantine", clock=lambda: WHEN)
    data, sop, study = _ct_bytes()
    store.put(
        data,
        reason="model 'demo-lesion' failed: [bold]input shape[/bold] mismatch",
        stage="inference",
        source="dimse",
        sop_instance_uid=sop,
        study_instance_uid=study,
    )
    store.put(
        b"hello, not DICOM",
        reason="not a readable DICOM Part 10 file: File is missing DICOM File Meta Information",
        stage="validation",
        source="folder",
    )
    store.close()
    return state


def _ids(state_dir: Path) -> list[str]:
    store = QuarantineStore(state_dir / "quarantine")
    try:
        return [entry.id for entry in store.list()]
    finally:
        store.close()


def _statuses(state_dir: Path) -> list[str]:
    store = QuarantineStore(state_dir / "quarantine")
    try:
        return [entry.status.value for entry in store.list()]
    finally:
        store.close()


def _q(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["quarantine", *args], env=env, input=input)


def test_list_prints_a_table(state_dir: Path) -> None:
    ct, garbage = _ids(state_dir)

    result = _q("list", "--state-dir", str(state_dir))

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # Not a terminal: plain tab-separated rows, a header first, nothing cut.
    header = lines[0].split("\t")
    for column in ("id", "when", "source", "stage", "status", "reason", "SOP Instance UID"):
        assert column in header
    rows = lines[1:3]
    assert all(len(row.split("\t")) == len(header) for row in rows)
    assert all(cell in rows[0] for cell in (ct, "dimse", "inference", "quarantined", "1.2.826"))
    assert "[bold]input shape[/bold]" in rows[0]  # shown as text, not rich markup
    assert all(cell in rows[1] for cell in (garbage, "folder", "validation", "not a readable"))
    assert lines[-1] == "in the store: 2 quarantined, 0 release_requested, 0 released, 0 discarded"


def test_list_json_and_filters(state_dir: Path) -> None:
    ct, garbage = _ids(state_dir)

    result = _q("list", "--state-dir", str(state_dir), "--json")

    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [e["id"] for e in entries] == [ct, garbage]
    assert entries[0]["stage"] == "inference" and entries[0]["quarantined_at"] == WHEN
    assert entries[1]["sop_instance_uid"] is None and entries[1]["size"] == 16
    assert set(entries[0]) >= {"reason", "source", "status", "sha256", "study_instance_uid"}

    only = _q("list", "--state-dir", str(state_dir), "--json", "--stage", "validation")
    assert [e["id"] for e in json.loads(only.stdout)] == [garbage]
    none = _q("list", "--state-dir", str(state_dir), "--json", "--status", "released")
    assert json.loads(none.stdout) == []


def test_list_empty_and_limit_and_bad_choice(state_dir: Path) -> None:
    result = _q("list", "--state-dir", str(state_dir), "--status", "discarded")
    assert result.exit_code == 0
    assert result.stdout.startswith("no quarantined inputs match (store: ")

    result = _q("list", "--state-dir", str(state_dir), "--limit", "1")
    assert "showing the first 1; use --limit to see more" in result.stdout

    result = _q("list", "--state-dir", str(state_dir), "--stage", "lunch")
    assert result.exit_code == 2
    assert "'lunch' is not one of 'validation'" in result.stderr


def test_state_dir_from_the_environment_and_the_default(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _q("list", "--json", env={"STREAMGALE_STATE_DIR": str(state_dir)})
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 2

    state_dir.rename(state_dir.parent / ".streamgale")
    monkeypatch.chdir(state_dir.parent)
    result = _q("list", "--json", env={"STREAMGALE_STATE_DIR": None})  # type: ignore[dict-item]
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 2


def test_show_prints_the_entry_and_a_dicom_summary(state_dir: Path) -> None:
    ct, _ = _ids(state_dir)
    _, sop, study = _ct_bytes()

    result = _q("show", ct, "--state-dir", str(state_dir))

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"quarantined input {ct}\n")
    assert "  stage:              inference\n" in out
    assert "  reason:             model 'demo-lesion' failed: [bold]input shape" in out
    assert f"  SOP Instance UID:   {sop}\n" in out
    assert "kept bytes:\n  SOP class:          CT Image Storage (1.2.840.10008.5.1.4.1.1.2)" in out
    assert "  modality:           CT\n" in out
    assert f"  study:              {study}\n" in out
    assert "  image:              32 x 32\n" in out
    assert "  transfer syntax:    Explicit VR Little Endian\n" in out


def test_show_json_of_bytes_that_are_not_dicom(state_dir: Path) -> None:
    _, garbage = _ids(state_dir)

    result = _q("show", garbage, "--state-dir", str(state_dir), "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["id"] == garbage and document["stage"] == "validation"
    assert document["dicom"] is None
    assert document["dicom_error"].startswith("not readable as DICOM")


def test_show_json_has_the_dicom_summary(state_dir: Path) -> None:
    ct, _ = _ids(state_dir)
    document = json.loads(_q("show", ct, "--state-dir", str(state_dir), "--json").stdout)
    assert document["dicom"]["sop_class_name"] == "CT Image Storage"
    assert (document["dicom"]["rows"], document["dicom"]["columns"]) == (32, 32)
    assert document["dicom_error"] is None


def test_show_save_writes_the_original_bytes(state_dir: Path, tmp_path: Path) -> None:
    ct, _ = _ids(state_dir)
    target = tmp_path / "out.dcm"

    result = _q("show", ct, "--state-dir", str(state_dir), "--save", str(target))

    assert result.exit_code == 0, result.output
    assert target.read_bytes() == _ct_bytes()[0]
    assert f"saved the kept bytes to {target}" in result.stdout


def test_show_unknown_id_is_one_line_and_exit_code_1(state_dir: Path) -> None:
    result = _q("show", "feedfacefeedface", "--state-dir", str(state_dir))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no quarantined input with id 'feedfacefeedface'; "
        "run 'streamgale quarantine list' to see the ids\n"
    )


def test_release_marks_and_says_who_reingests(state_dir: Path) -> None:
    ct, garbage = _ids(state_dir)

    result = _q("release", ct, "--state-dir", str(state_dir))

    assert result.exit_code == 0, result.output
    assert f"marked 1 quarantined input(s) for release: {ct}" in result.stdout
    assert "The running pipeline re-ingests them" in result.stdout
    assert f"its next run with --state-dir {state_dir} does" in result.stdout
    assert _statuses(state_dir) == ["release_requested", "quarantined"]

    again = _q("release", ct, garbage, "--state-dir", str(state_dir), "--json")
    assert json.loads(again.stdout) == {
        "marked": 1,
        "ids": [ct, garbage],
        "state_dir": str(state_dir),
    }


def test_release_of_an_already_marked_entry_says_so(state_dir: Path) -> None:
    ct, _ = _ids(state_dir)
    _q("release", ct, "--state-dir", str(state_dir))
    result = _q("release", ct, "--state-dir", str(state_dir))
    assert "marked 0 quarantined input(s)" in result.stdout
    assert "1 were not in state 'quarantined'" in result.stdout


def test_release_with_an_unknown_id_marks_nothing(state_dir: Path) -> None:
    ct, _ = _ids(state_dir)
    result = _q("release", ct, "nope", "--state-dir", str(state_dir))
    assert result.exit_code == 1
    assert "no quarantined input with id 'nope'" in result.stderr
    assert _statuses(state_dir) == ["quarantined", "quarantined"]


def test_release_needs_ids(state_dir: Path) -> None:
    result = _q("release", "--state-dir", str(state_dir))
    assert result.exit_code == 2
    assert "Missing argument 'ID...'" in result.stderr


def test_discard_asks_first(state_dir: Path) -> None:
    _, garbage = _ids(state_dir)

    refused = _q("discard", garbage, "--state-dir", str(state_dir), input="n\n")
    assert refused.exit_code == 1
    assert "Discard 1 quarantined input(s)? Their original bytes are deleted" in refused.stdout
    assert _statuses(state_dir) == ["quarantined", "quarantined"]

    agreed = _q("discard", garbage, "--state-dir", str(state_dir), input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert "discarded 1 quarantined input(s); their records stay" in agreed.stdout
    assert _statuses(state_dir) == ["quarantined", "discarded"]


def test_discard_yes_and_show_of_a_discarded_entry(state_dir: Path) -> None:
    ct, _ = _ids(state_dir)

    result = _q("discard", ct, "--yes", "--json", "--state-dir", str(state_dir))

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"discarded": 1, "ids": [ct]}
    shown = _q("show", ct, "--state-dir", str(state_dir))
    assert "  status:             discarded\n" in shown.stdout
    assert "kept bytes:\n  discarded: the bytes were deleted" in shown.stdout


def test_discard_unknown_id_asks_nothing(state_dir: Path) -> None:
    result = _q("discard", "nope", "--state-dir", str(state_dir))
    assert result.exit_code == 1
    assert "Discard" not in result.stdout
    assert "no quarantined input with id 'nope'" in result.stderr


@pytest.mark.parametrize(
    "command", [("list",), ("show", "abc"), ("release", "abc"), ("discard", "abc", "--yes")]
)
def test_a_missing_store_says_where_it_looked(tmp_path: Path, command: tuple[str, ...]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    result = _q(*command, "--state-dir", str(empty))

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no quarantine store at {empty / 'quarantine'}; point at the pipeline's "
        "state directory with --state-dir DIR or STREAMGALE_STATE_DIR\n"
    )
    assert list(empty.iterdir()) == []  # looking must not create a store


@pytest.mark.parametrize("command", [("list",), ("show", "abc")])
def test_a_state_dir_that_does_not_exist_is_a_usage_error(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "nothing-here"
    result = _q(*command, "--state-dir", str(missing))
    assert result.exit_code == 2
    assert f"Directory '{missing}' does not exist" in result.stderr
    assert not missing.exists()


def test_a_missing_store_names_the_stores_below(state_dir: Path) -> None:
    result = _q("list", "--state-dir", str(state_dir.parent))
    assert result.exit_code == 1
    assert f"stores were found in: {state_dir}" in result.stderr


def test_help_has_examples() -> None:
    result = _q("--help")
    assert result.exit_code == 0
    assert "streamgale quarantine release 3f9c2a7b1d4e8f60" in result.stdout
    for command in ("list", "show", "release", "discard"):
        assert command in result.stdout
    assert "STREAMGALE_STATE_DIR" in _q("list", "--help").stdout


def test_the_cli_imports_without_pydicom() -> None:
    """The core must run without the dicom extra: the quarantine commands import no pydicom."""
    code = (
        "import sys; import streamgale.cli, streamgale.cli.quarantine, "
        "streamgale.dicom.quality; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydicom', 'pynetdicom')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_show_survives_a_kept_file_removed_by_hand(state_dir: Path) -> None:
    ct, _ = _ids(state_dir)
    next((state_dir / "quarantine").rglob(f"{ct}.dcm")).unlink()

    result = _q("show", ct, "--state-dir", str(state_dir))

    assert result.exit_code == 0, result.output
    assert f"kept bytes:\n  the file of quarantined input {ct} is missing from" in result.stdout
