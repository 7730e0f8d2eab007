"""The admin token and sessions: stored hashed, shown once, resettable."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from streamgale.dashboard.auth import (
    ADMIN_FILE,
    AdminToken,
    SessionStore,
    hash_token,
    reset_admin_token,
    verify_token,
)
from streamgale.errors import ConfigError


def test_the_first_start_makes_a_token_that_later_starts_do_not_show(tmp_path: Path) -> None:
    token = AdminToken(tmp_path / "dashboard").ensure()
    assert token is not None and len(token) >= 40
    again = AdminToken(tmp_path / "dashboard")
    assert again.ensure() is None
    assert again.verify(token)
    assert not again.verify(token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not again.verify("")


def test_only_a_salted_hash_is_stored_readable_by_the_owner_alone(tmp_path: Path) -> None:
    directory = tmp_path / "dashboard"
    token = AdminToken(directory).ensure()
    assert token is not None
    path = directory / ADMIN_FILE
    text = path.read_text()
    assert token not in text
    record = json.loads(text)
    assert record["algorithm"] == "scrypt" and len(bytes.fromhex(record["salt"])) == 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [p.name for p in directory.iterdir()] == [ADMIN_FILE]  # no temporary file left


def test_the_same_token_hashes_differently_with_another_salt() -> None:
    first, second = hash_token("t"), hash_token("t")
    assert first["salt"] != second["salt"] and first["hash"] != second["hash"]
    assert verify_token("t", first) and verify_token("t", second)


def test_a_reset_replaces_the_token_and_voids_its_sessions(tmp_path: Path) -> None:
    admin = AdminToken(tmp_path / "dashboard")
    old = admin.ensure()
    assert old is not None
    sessions = SessionStore()
    session = sessions.open(admin.generation())
    new = reset_admin_token(tmp_path)
    assert new != old
    assert admin.verify(new) and not admin.verify(old)
    assert sessions.get(session.id, admin.generation()) is None


def test_a_damaged_token_file_says_how_to_recover(tmp_path: Path) -> None:
    admin = AdminToken(tmp_path / "dashboard")
    admin.ensure()
    (tmp_path / "dashboard" / ADMIN_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="reset-token"):
        admin.verify("anything")


def test_sessions_end_after_being_idle_and_on_logout() -> None:
    now = [0.0]
    sessions = SessionStore(idle_s=10.0, clock=lambda: now[0])
    first, second = sessions.open("g"), sessions.open("g")
    assert first.id != second.id and first.csrf != second.csrf
    now[0] = 9.0
    assert sessions.get(first.id, "g") is first  # a request extends it
    now[0] = 18.0
    assert sessions.get(first.id, "g") is first
    assert sessions.get(second.id, "g") is None  # idle since 0
    sessions.close(first.id)
    assert sessions.get(first.id, "g") is None
    assert sessions.get("made-up", "g") is None
