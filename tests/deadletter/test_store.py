"""The dead-letter store on a full disk: letters wait in memory, nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgale.deadletter.store import DeadLetterStore
from streamgale.errors import DeadLetterError
from streamgale.fsutil import is_out_of_space
from tests.tmpfs import fill, small_tmpfs


def test_a_flush_on_a_full_disk_keeps_the_letters_for_the_next_flush(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", size="4m") as disk:
        store = DeadLetterStore(disk / "deadletters.sqlite")
        store.add("p", "parse", "x" * 100_000, ValueError("bad"), batch=False)
        filler = fill(disk)
        store.add("p", "parse", "y" * 100_000, ValueError("worse"), batch=False)
        with pytest.raises(DeadLetterError, match="kept in memory") as raised:
            store.flush()
        assert is_out_of_space(raised.value)  # the runtime tells a full disk from a bug
        filler.unlink()
        store.flush()
        assert [letter.error for letter in store.list()] == ["bad", "worse"]
        store.close()


def test_letters_are_durable_at_flush(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path / "deadletters.sqlite")
    store.add("p", "parse", {"a": 1}, KeyError("a"), batch=False)
    store.flush()
    store.close()
    again = DeadLetterStore(tmp_path / "deadletters.sqlite")
    assert [(letter.step_id, letter.payload) for letter in again.list()] == [("parse", {"a": 1})]
    again.close()
