"""Shared fixtures: a user-function module written per test (YAML and CLI tests use it)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

RULES = """
def parse(record):
    return {"sensor": record["sensor"], "ts": float(record["ts"]), "value": float(record["value"])}

def is_hot(row):
    return row["peak"] >= 50

def is_even(x):
    return x % 2 == 0

def sensor_of(record):
    return record["sensor"]

def words(line):
    return line.split()

NOT_A_FUNCTION = 42
"""


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Name of a fresh module next to the pipeline files, holding the functions above.

    The name is unique per test because ``sys.modules`` caches modules by name;
    ``sys.path`` (which the loader may extend) is restored afterwards.
    """
    name = f"rules_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(RULES)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)
