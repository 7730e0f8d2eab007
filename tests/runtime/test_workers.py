"""The worker pool: ordering, failures as data, dead workers, shared memory, backpressure.

Worker functions are defined at module level: worker processes load them by name.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import threading
import time
import tracemalloc
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from streamgale.errors import ConfigError, StreamGaleError
from streamgale.runtime.shm import SHM_DIR, shm_available
from streamgale.runtime.workers import (
    WORKER_DIED,
    WorkerFailure,
    WorkerPool,
    preload_worker_modules,
)

pytestmark = pytest.mark.timeout(60)

KILL = "kill"


def sleep_then_echo(item: tuple[int, float]) -> int:
    index, delay = item
    time.sleep(delay)
    return index


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x * 10


def die_on_kill(x: Any) -> Any:
    if isinstance(x, str) and x == KILL:
        os.kill(os.getpid(), signal.SIGKILL)
    if isinstance(x, tuple) and x[0] == KILL:
        # Play a worker that made its result block and died before sending it.
        (SHM_DIR / x[1]).write_bytes(b"half-made result")
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def echo(x: Any) -> Any:
    return x


def buffer_origin(a: np.ndarray[Any, Any]) -> tuple[bool, str, bool, float]:
    """How the worker received ``a``: does it own its memory, what backs it."""
    return a.flags.owndata, _root_base_type(a), a.flags.writeable, float(a[-1])


def _root_base_type(a: np.ndarray[Any, Any]) -> str:
    base: Any = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return type(base).__name__


def _blocks(pool: WorkerPool) -> list[str]:
    return sorted(p.name for p in SHM_DIR.glob(f"{pool.block_prefix}*"))


@pytest.fixture(autouse=True, scope="module")
def _fast_worker_start() -> None:
    # Workers then start in milliseconds, unless another test module has
    # already started the forkserver (the tests pass either way, slower).
    preload_worker_modules("numpy", __name__)


@pytest.fixture
def pool2() -> Iterator[WorkerPool]:
    with WorkerPool(fail_on_three, processes=2) as pool:
        yield pool


needs_shm = pytest.mark.skipif(not shm_available(), reason="needs Linux /dev/shm")


def test_results_come_back_in_submission_order_despite_random_delays() -> None:
    rng = random.Random(7)
    items = [(i, rng.uniform(0, 0.02)) for i in range(30)]
    got: list[int] = []
    with WorkerPool(sleep_then_echo, processes=3) as pool:
        for item in items:
            pool.submit(item)
            got.extend(pool.poll())
        got.extend(pool.drain())
    assert got == list(range(30))


def test_poll_returns_only_the_finished_prefix_without_blocking() -> None:
    with WorkerPool(sleep_then_echo, processes=2, max_inflight=8) as pool:
        pool.submit((0, 0.5))
        for i in range(1, 4):
            pool.submit((i, 0.0))
        time.sleep(0.1)  # items 1..3 are done by now, item 0 is not
        start = time.monotonic()
        assert pool.poll() == []
        assert time.monotonic() - start < 0.1
        assert pool.in_flight == 4
        assert pool.drain() == [0, 1, 2, 3]
        assert pool.in_flight == 0


def test_a_raising_function_becomes_a_worker_failure_and_later_items_still_run(
    pool2: WorkerPool,
) -> None:
    for x in range(6):
        pool2.submit(x)
    results = pool2.drain()
    assert results[:3] == [0, 10, 20]
    assert results[4:] == [40, 50]
    failure = results[3]
    assert isinstance(failure, WorkerFailure)
    assert failure.exc_type == "ValueError"
    assert failure.message == "three is not allowed"
    assert "fail_on_three" in failure.traceback


@pytest.mark.crash
def test_a_killed_worker_fails_its_item_is_replaced_and_does_not_hang() -> None:
    with WorkerPool(die_on_kill, processes=2) as pool:
        for x in [1, KILL, 3, KILL, 5, 6]:
            pool.submit(x)
        results = pool.drain()
        assert [r for r in results if not isinstance(r, WorkerFailure)] == [1, 3, 5, 6]
        for index in (1, 3):
            failure = results[index]
            assert isinstance(failure, WorkerFailure)
            assert failure.exc_type == WORKER_DIED
            assert "SIGKILL" in failure.message
        # Both replacements work.
        for x in range(4):
            pool.submit(x)
        assert pool.drain() == [0, 1, 2, 3]


@pytest.mark.crash
@needs_shm
def test_a_worker_dying_with_its_result_block_made_leaves_nothing_in_dev_shm() -> None:
    with WorkerPool(die_on_kill, processes=1, shm_threshold=0) as pool:
        orphan = f"{pool.block_prefix}r0"  # the name item 0's result block would get
        pool.submit((KILL, orphan))
        [failure] = pool.drain()
        assert isinstance(failure, WorkerFailure) and failure.exc_type == WORKER_DIED
        assert _blocks(pool) == []


@needs_shm
def test_a_64_mib_array_crosses_through_shared_memory_as_a_view() -> None:
    big = np.arange(8 * 1024 * 1024, dtype=np.float64)  # 64 MiB
    with WorkerPool(buffer_origin, processes=1) as pool:
        pool.submit(big)
        pool.submit(np.arange(16.0))  # small: travels inline through the pipe
        [(owns_big, origin_big, writable, last), (owns_small, origin_small, _, _)] = pool.drain()
    # The worker's array is a view into the mapped block, not a copy of it.
    assert (owns_big, origin_big, writable, last) == (False, "mmap", True, big[-1])
    assert (owns_small, origin_small) == (False, "bytearray")


@needs_shm
def test_a_64_mib_result_comes_back_without_a_copy_in_the_parent() -> None:
    big = np.random.default_rng(1).random(8 * 1024 * 1024)  # 64 MiB
    with WorkerPool(echo, processes=1) as pool:
        tracemalloc.start()
        try:
            pool.submit(big)
            [back] = pool.drain()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        blocks_while_result_alive = _blocks(pool)
    assert peak < 4 * 1024 * 1024, f"the parent allocated {peak} bytes for a 64 MiB round trip"
    assert not back.flags.owndata and _root_base_type(back) == "mmap"
    assert np.array_equal(back, big)
    # The result's block was unlinked as soon as it was mapped; the view lives on.
    assert blocks_while_result_alive == []


@needs_shm
def test_large_in_band_pickles_and_fortran_arrays_cross_too() -> None:
    payload = {"blob": os.urandom(300_000), "f": np.asfortranarray(np.ones((300, 200)))}
    with WorkerPool(echo, processes=1, shm_threshold=0) as pool:
        pool.submit(payload)
        [back] = pool.drain()
    assert back["blob"] == payload["blob"]
    assert np.array_equal(back["f"], payload["f"]) and back["f"].flags.f_contiguous


@pytest.mark.crash
@needs_shm
def test_no_shared_memory_block_is_left_after_failures_kills_and_close() -> None:
    before = set(os.listdir(SHM_DIR))
    arrays = [np.full(200_000, i, dtype=np.int64) for i in range(6)]  # 1.6 MB each
    with WorkerPool(die_on_kill, processes=2, max_inflight=3) as pool:
        prefix = pool.block_prefix
        for i, a in enumerate(arrays):
            pool.submit(KILL if i == 2 else a)
        results = pool.drain()
        pool.submit(arrays[0])
        pool.submit(np.zeros(5_000_000))  # still unfinished when the pool closes
    assert isinstance(results[2], WorkerFailure)
    assert [int(r[0]) for i, r in enumerate(results) if i != 2] == [0, 1, 3, 4, 5]
    del results
    leftover = set(os.listdir(SHM_DIR)) - before
    assert not [name for name in leftover if name.startswith(prefix)]


def test_submit_blocks_while_max_inflight_items_are_unfinished() -> None:
    returned: list[float] = []
    with WorkerPool(sleep_then_echo, processes=1, max_inflight=2) as pool:

        def producer() -> None:
            for i in range(3):
                pool.submit((i, 0.4))
                returned.append(time.monotonic())

        start = time.monotonic()
        thread = threading.Thread(target=producer)
        thread.start()
        time.sleep(0.2)
        assert len(returned) == 2  # the third submit is held back
        thread.join(5)
        assert len(returned) == 3
        # It went through once the first item finished, after about 0.4 s.
        assert returned[2] - start >= 0.35
        assert pool.drain() == [0, 1, 2]


def test_a_function_that_cannot_be_pickled_is_refused_at_creation() -> None:
    def nested(x: int) -> int:
        return x

    for fn in (lambda x: x, nested):
        with pytest.raises(ConfigError, match="define it at module level"):
            WorkerPool(fn, processes=1)


def test_an_item_that_cannot_be_pickled_becomes_a_worker_failure(pool2: WorkerPool) -> None:
    pool2.submit(1)
    pool2.submit(threading.Lock())
    pool2.submit(2)
    first, failure, last = pool2.drain()
    assert (first, last) == (10, 20)
    assert isinstance(failure, WorkerFailure)
    assert failure.exc_type == "TypeError" and "could not be pickled" in failure.message


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ConfigError, match="processes"):
        WorkerPool(echo, processes=0)
    with pytest.raises(ConfigError, match="max_inflight"):
        WorkerPool(echo, processes=1, max_inflight=0)


def test_close_is_idempotent_and_a_closed_pool_refuses_work() -> None:
    pool = WorkerPool(echo, processes=1)
    pool.close()
    pool.close()
    with pytest.raises(StreamGaleError, match="closed"):
        pool.submit(1)
    with pytest.raises(StreamGaleError, match="closed"):
        pool.poll()


def test_close_terminates_busy_workers_and_an_error_in_the_block_closes_the_pool() -> None:
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="boom"), WorkerPool(sleep_then_echo, 2) as pool:
        pool.submit((0, 30.0))
        pool.submit((1, 30.0))
        raise RuntimeError("boom")
    assert time.monotonic() - start < 10
    workers = [p for p in multiprocessing.active_children() if pool.block_prefix in p.name]
    assert workers == []


def test_worker_processes_are_named_after_the_pool() -> None:
    # Without this, the check after close() above could pass on a naming change.
    with WorkerPool(echo, processes=2) as pool:
        names = [p.name for p in multiprocessing.active_children()]
        assert sum(pool.block_prefix in name for name in names) == 2


def test_a_function_workers_cannot_import_is_refused_at_creation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Picklable here (the module is in sys.modules) but not importable in a worker,
    # like a function defined in a notebook.
    phantom = types.ModuleType("streamgale_phantom_module")

    def ghost(x: int) -> int:
        return x

    ghost.__module__ = phantom.__name__
    ghost.__qualname__ = "ghost"
    phantom.ghost = ghost  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, phantom.__name__, phantom)
    with pytest.raises(ConfigError, match="could not load the worker function") as info:
        WorkerPool(ghost, processes=2)
    assert "ModuleNotFoundError" in str(info.value)
