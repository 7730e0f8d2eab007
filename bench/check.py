"""Canonical result form and the cross-implementation equality check.

A query's output (rows or columns, any order) becomes *canonical columns*: the columns of
``queries.COLUMNS`` in their canonical dtypes, rows sorted lexicographically (first column
first). Canonical columns travel from child to parent as an ``.npz`` file, and two of them are
compared by :func:`compare` with the rules written in ``queries``.

>>> a = canonicalize("C", [(12, 3, 7), (10, 5, 7)])
>>> a["window_start"].tolist(), a["key"].tolist()
([10, 12], [5, 3])
>>> compare("C", a, canonicalize("C", {"window_start": [10, 12], "key": [5, 3], "count": [7, 7]}))
Comparison(problems=[], max_sum_rel_diff=0.0)
>>> compare("C", a, canonicalize("C", [(10, 5, 7)])).problems
['C: 2 rows vs 1 rows']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from queries import COLUMNS, SUM_RTOL, Columns, Rows, empty_columns

Canonical = dict[str, npt.NDArray[Any]]

_TOLERANT = {("B", "sum")}
"""Columns compared with ``SUM_RTOL`` instead of exactly."""


def canonicalize(query: str, rows: Rows | Columns) -> Canonical:
    """Convert one query's output (row tuples or named columns) into sorted canonical columns."""
    spec = COLUMNS[query]
    if isinstance(rows, Mapping):
        missing = [name for name, _ in spec if name not in rows]
        if missing:
            raise ValueError(f"query {query} output lacks columns {missing}; expected {spec}")
        cols = {name: np.asarray(rows[name], dtype=dtype) for name, dtype in spec}
    elif len(rows) == 0:
        cols = empty_columns(query)
    else:
        # Every integer column is below 2**53, so one float64 matrix holds all columns exactly.
        matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(spec))
        cols = {name: matrix[:, i].astype(dtype) for i, (name, dtype) in enumerate(spec)}
    order = np.lexsort([cols[name] for name, _ in reversed(spec)])
    return {name: col[order] for name, col in cols.items()}


@dataclass
class Comparison:
    """Outcome of comparing two canonical results; empty ``problems`` means they agree."""

    problems: list[str] = field(default_factory=list)
    max_sum_rel_diff: float = 0.0


def compare(query: str, expected: Canonical, actual: Canonical) -> Comparison:
    """Compare canonical results of ``query`` under the rules in the ``queries`` docstring."""
    out = Comparison()
    n_exp, n_act = len(expected[COLUMNS[query][0][0]]), len(actual[COLUMNS[query][0][0]])
    if n_exp != n_act:
        out.problems.append(f"{query}: {n_exp} rows vs {n_act} rows")
        return out
    for name, _ in COLUMNS[query]:
        exp, act = expected[name], actual[name]
        if (query, name) in _TOLERANT:
            scale = np.maximum(np.abs(exp), np.abs(act))
            rel = np.abs(exp - act) / np.where(scale == 0, 1.0, scale)
            out.max_sum_rel_diff = float(rel.max()) if len(rel) else 0.0
            bad = np.flatnonzero(rel > SUM_RTOL)
        else:
            bad = np.flatnonzero(exp != act)
        if len(bad):
            i = int(bad[0])
            out.problems.append(
                f"{query}: column {name} differs in {len(bad)} rows; first at sorted row {i}: "
                f"{_row(query, expected, i)} vs {_row(query, actual, i)}"
            )
    return out


def _row(query: str, cols: Canonical, i: int) -> tuple[Any, ...]:
    return tuple(cols[name][i].item() for name, _ in COLUMNS[query])


def save(path: Path, cols: Canonical) -> None:
    """Write canonical columns to ``path`` (an ``.npz`` file)."""
    with path.open("wb") as f:
        np.savez(f, **cols)


def load(path: Path) -> Canonical:
    """Read canonical columns written by :func:`save`."""
    with np.load(path) as data:
        return {name: data[name] for name in data.files}
