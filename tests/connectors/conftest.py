"""Fixtures shared by the connector tests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from streamgale.connectors.base import BuildContext


@pytest.fixture
def ctx(tmp_path: Path) -> BuildContext:
    state = tmp_path / "state"
    state.mkdir()
    return BuildContext("step", state, threading.Event())
