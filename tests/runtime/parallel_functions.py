"""Module-level functions for the parallel tests (worker processes import them)."""

from __future__ import annotations

import os

import numpy as np

from streamgale import ColumnBatch


def square_or_fail(x: int) -> int:
    if x == 13:
        raise ValueError("unlucky")
    return x * x


def worker_pid(_: object) -> int:
    return os.getpid()


def normalise(batch: ColumnBatch) -> ColumnBatch:
    v = batch["v"]
    return batch.with_columns(v=(v - v.mean()) / (v.std() or 1.0), shared=np.full(len(v), 1))
