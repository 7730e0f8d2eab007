"""A pool of worker processes for CPU-heavy steps, with ordered results.

:class:`WorkerPool` runs one user function in N processes. The runtime
submits micro-batches and polls for results, which come back in submission
order. Large numpy buffers cross through shared memory (see
:mod:`streamgale.runtime.shm`), so a 64 MiB array costs one copy in each
direction, not four.

Failures are data, not crashes:

* if the function raises, the item's result is a :class:`WorkerFailure`
  carrying the remote traceback, and the pool keeps going;
* if a worker process dies (killed, segfault, ``os._exit``), the item it was
  running gets a :class:`WorkerFailure` with ``exc_type == "WorkerDied"`` and
  the worker is replaced. The item is not retried: it may be what killed the
  worker.

Who owns which shared memory block, so that each is unlinked exactly once:

* an item's block is created, tracked and unlinked by the parent, when the
  item's result arrives, its worker dies, or the pool closes;
* a result's block is created untracked by the worker and unlinked by the
  parent as soon as it has mapped it. If the worker dies before the parent
  gets the result, the parent unlinks it by its name, which is derived from
  the item's sequence number.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import secrets
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from streamgale.errors import ConfigError, StreamGaleError
from streamgale.runtime.shm import (
    DEFAULT_SHM_THRESHOLD,
    Payload,
    decode,
    encode,
    release_block,
    unlink_block,
)

__all__ = ["WORKER_DIED", "WorkerFailure", "WorkerPool", "preload_worker_modules"]

WORKER_DIED = "WorkerDied"
"""``WorkerFailure.exc_type`` of an item whose worker process died running it."""

_TASK, _STOP, _READY, _STARTUP_FAILED, _DONE, _FAILED = range(6)

_STOP_GRACE_S = 2.0
"""How long close() lets idle workers exit on their own before terminating them."""

_MAX_STARTUP_FAILURES = 3
"""Replacement workers that die before they are ready, in a row, before we give
up: past this the machine is out of memory or processes, not unlucky."""


@dataclass(frozen=True)
class WorkerFailure:
    """The result of an item whose function raised, or whose worker died.

    ``exc_type`` is the exception's class name (module-qualified unless it is
    a builtin), or :data:`WORKER_DIED`; ``traceback`` is the remote one.
    """

    exc_type: str
    message: str
    traceback: str

    @classmethod
    def from_exception(cls, exc: BaseException, context: str = "") -> WorkerFailure:
        """Describe ``exc``; ``context`` is put in front of its message."""
        kind = type(exc)
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        text = "".join(traceback.format_exception(exc))
        return cls(name, f"{context}{exc}", text)


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    seq: int | None = None  # the item it is running, if any


class WorkerPool:
    """Runs ``fn`` over submitted items in ``processes`` worker processes.

    Results come back in submission order. At most ``max_inflight`` (default
    ``2 * processes``) items are unfinished at once; :meth:`submit` blocks
    beyond that, which is how a slow step pushes back on its inputs. It also
    blocks while ``max_inflight`` results wait behind an unfinished oldest
    item, so a slow item cannot make finished results pile up.

    ``fn`` must be picklable by reference: a function defined at module level
    (or a :func:`functools.partial` of one). Workers are started with
    ``forkserver`` (``spawn`` where that is missing), which is safe when the
    parent has threads. The pool is meant to be driven by one thread; a lock
    makes calls from several threads safe, but they run one at a time.

    Each worker runs one item at a time; other submitted items wait in the
    parent. That keeps every pipe free for the reply, so a large message can
    never deadlock two processes writing to each other.

    >>> import math
    >>> with WorkerPool(math.sqrt, processes=2) as pool:
    ...     for x in (4.0, -1.0, 9.0):
    ...         pool.submit(x)
    ...     results = pool.drain()
    >>> results[0], results[2]
    (2.0, 3.0)
    >>> results[1].exc_type, results[1].message
    ('ValueError', 'math domain error')
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        processes: int,
        max_inflight: int | None = None,
        *,
        shm_threshold: int = DEFAULT_SHM_THRESHOLD,
        startup_timeout: float = 60.0,
    ) -> None:
        if processes < 1:
            raise ConfigError(f"processes must be at least 1; got {processes}", key="processes")
        limit = 2 * processes if max_inflight is None else max_inflight
        if limit < 1:
            raise ConfigError(f"max_inflight must be at least 1; got {limit}", key="max_inflight")
        self._fn_pickle = _pickle_function(fn)
        self._processes = processes
        self._max_inflight = limit
        self._threshold = shm_threshold
        self._prefix = f"sg{secrets.token_hex(4)}"
        self._ctx = _safe_context()
        self._lock = threading.RLock()
        self._workers: list[_Worker] = []
        self._tasks: dict[int, Payload] = {}  # unfinished items, pending or running
        self._pending: deque[int] = deque()
        self._results: dict[int, Any] = {}
        self._next_seq = 0
        self._next_out = 0
        self._startup_failures = 0
        self._closed = False
        try:
            for _ in range(processes):
                self._workers.append(self._start_worker())
            self._await_ready(startup_timeout)
        except BaseException:
            self.close()
            raise

    @property
    def processes(self) -> int:
        """The number of worker processes."""
        return self._processes

    @property
    def block_prefix(self) -> str:
        """Names of this pool's shared memory blocks start with this (for leak checks)."""
        return self._prefix

    @property
    def in_flight(self) -> int:
        """Items submitted whose results have not been returned yet."""
        return self._next_seq - self._next_out

    def submit(self, item: Any) -> None:
        """Queue ``item`` for the function; block while the pool is full.

        An item that cannot be pickled does not raise: its result is a
        :class:`WorkerFailure`, like an item the function raised on.
        """
        with self._lock:
            self._check_open()
            while self._must_wait():
                self._pump(None)
            seq = self._next_seq
            self._next_seq += 1
            try:
                payload = encode(
                    item, self._block_name("t", seq), threshold=self._threshold, track=True
                )
            except Exception as exc:
                context = "the item could not be pickled to send it to a worker: "
                self._results[seq] = WorkerFailure.from_exception(exc, context)
                return
            self._tasks[seq] = payload
            self._pending.append(seq)
            self._dispatch()

    def poll(self) -> list[Any]:
        """Results finished so far, in submission order; never blocks.

        Only the finished prefix is returned: a result waits until every item
        submitted before it has finished.
        """
        with self._lock:
            self._check_open()
            self._pump(0)
            return self._take_ready()

    def drain(self) -> list[Any]:
        """Wait for every submitted item and return the remaining results, in order."""
        with self._lock:
            self._check_open()
            while self._tasks:
                self._pump(None)
            return self._take_ready()

    def close(self) -> None:
        """Stop the workers and free every shared memory block; idempotent.

        Items still running are abandoned (their workers are terminated), so
        call :meth:`drain` first to keep their results.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for worker in self._workers:
                if worker.seq is None:
                    _send_quietly(worker.conn, (_STOP,))
            deadline = time.monotonic() + _STOP_GRACE_S
            for worker in self._workers:
                if worker.seq is None:
                    worker.process.join(max(0.0, deadline - time.monotonic()))
                self._bury(worker)
            self._workers.clear()
            for payload in self._tasks.values():
                release_block(payload)
            self._tasks.clear()
            self._pending.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Internals --------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StreamGaleError("the worker pool is closed; create a new WorkerPool to run more")

    def _block_name(self, kind: str, seq: int) -> str:
        return f"{self._prefix}{kind}{seq}"

    def _must_wait(self) -> bool:
        if len(self._tasks) >= self._max_inflight:
            return True
        window_full = self._next_seq - self._next_out >= self._max_inflight
        return window_full and self._next_out not in self._results

    def _take_ready(self) -> list[Any]:
        out = []
        while self._next_out in self._results:
            out.append(self._results.pop(self._next_out))
            self._next_out += 1
        return out

    def _start_worker(self) -> _Worker:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main,
            args=(child_conn, self._fn_pickle, self._prefix, self._threshold),
            name=f"streamgale-worker-{self._prefix}",
            daemon=True,
        )
        process.start()
        # Only the child may hold its end, or we would never see EOF when it dies.
        child_conn.close()
        return _Worker(process, parent_conn)

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(worker.ready for worker in self._workers):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamGaleError(
                    f"worker processes did not start within {timeout:g} s; the machine may be "
                    "out of memory or processes, or importing the worker function hangs"
                )
            self._pump(remaining)

    def _pump(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` for messages or deaths, handle them, dispatch."""
        owners: dict[Any, _Worker] = {}
        for worker in self._workers:
            owners[worker.conn] = worker
            owners[worker.process.sentinel] = worker
        touched: list[_Worker] = []
        for obj in wait(list(owners), timeout):
            if owners[obj] not in touched:
                touched.append(owners[obj])
        for worker in touched:
            self._service(worker)
        self._dispatch()

    def _service(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, pickle.loads(worker.conn.recv_bytes()))
        except (EOFError, OSError):
            pass  # it died, maybe in the middle of a message; see below
        if not worker.process.is_alive():
            self._replace(worker)

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == _READY:
            worker.ready = True
            self._startup_failures = 0
        elif kind == _STARTUP_FAILED:
            failure: WorkerFailure = message[1]
            self.close()
            raise ConfigError(
                f"a worker process could not load the worker function ({failure.exc_type}: "
                f"{failure.message}); define it at module level in a module that worker "
                "processes can import",
                key="fn",
            )
        elif kind == _DONE:
            seq, payload = message[1], message[2]
            try:
                result = decode(payload, unlink=True)
            except Exception as exc:
                result = WorkerFailure.from_exception(exc, "the result could not be unpickled: ")
            self._finish(worker, seq, result)
        elif kind == _FAILED:
            self._finish(worker, message[1], message[2])

    def _finish(self, worker: _Worker, seq: int, result: Any) -> None:
        worker.seq = None
        self._results[seq] = result
        release_block(self._tasks.pop(seq))

    def _replace(self, worker: _Worker) -> None:
        seq, pid = worker.seq, worker.process.pid
        exitcode = self._bury(worker)
        self._workers.remove(worker)
        if seq is not None:
            self._results[seq] = WorkerFailure(
                WORKER_DIED,
                f"worker process {pid} died ({_describe_exit(exitcode)}) while "
                "running this item; it was replaced and the item was not retried",
                "",
            )
            release_block(self._tasks.pop(seq))
        elif not worker.ready:
            self._startup_failures += 1
            if self._startup_failures >= _MAX_STARTUP_FAILURES:
                self.close()
                raise StreamGaleError(
                    f"{self._startup_failures} worker processes in a row died while starting "
                    f"({_describe_exit(exitcode)}; their traceback is on stderr), so the pool "
                    "is closed. A common cause: the main script starts the pipeline without "
                    "an `if __name__ == '__main__':` guard, and each worker runs it again"
                )
        if not self._closed:
            self._workers.append(self._start_worker())

    def _bury(self, worker: _Worker) -> int | None:
        """Make sure ``worker`` has exited, reap it and clean what it may have left."""
        process = worker.process
        if process.is_alive():
            process.terminate()
            process.join(1.0)
        if process.is_alive():
            process.kill()
            process.join()
        worker.conn.close()
        if worker.seq is not None:
            # It may have created its result block and died before sending it.
            unlink_block(self._block_name("r", worker.seq))
        exitcode = process.exitcode
        process.close()  # frees its sentinel now rather than at garbage collection
        return exitcode

    def _dispatch(self) -> None:
        for worker in list(self._workers):
            if not self._pending:
                return
            if not worker.ready or worker.seq is not None:
                continue
            seq = self._pending.popleft()
            try:
                worker.conn.send_bytes(_dump((_TASK, seq, self._tasks[seq])))
            except OSError:
                self._pending.appendleft(seq)  # it died between two items
                self._replace(worker)
                continue
            worker.seq = seq


def preload_worker_modules(*modules: str) -> None:
    """Have worker processes start with ``modules`` (and this one) already imported.

    Workers are forked from the process-wide forkserver, which imports these
    modules once; a worker then starts in about 10 ms instead of the half
    second it takes to import ``streamgale`` and numpy. Call it before the
    first pool (or any forkserver process) starts; later calls have no effect.
    Import errors are ignored here and surface when a worker loads its function.

    Only modules that are safe to fork belong here: not ones that start threads
    or open devices on import (CUDA, for example).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        preload = ["__main__", __name__, *modules]
        multiprocessing.get_context("forkserver").set_forkserver_preload(preload)


def _safe_context() -> ForkServerContext | SpawnContext:
    # Plain fork copies the parent's locks mid-flight when it has threads
    # (the runtime does), which can deadlock the child; these two start clean.
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def _pickle_function(fn: Callable[[Any], Any]) -> bytes:
    try:
        return pickle.dumps(fn, protocol=5)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ConfigError(
            f"the worker function {fn!r} cannot be pickled ({exc}); worker processes load it "
            "by name, so define it at module level (not a lambda, closure or nested "
            "function), or wrap a module-level function in functools.partial",
            key="fn",
        ) from exc


def _dump(message: tuple[Any, ...]) -> bytes:
    return pickle.dumps(message, protocol=5)


def _send_quietly(conn: Connection, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError):  # already gone; close() terminates it anyway
        conn.send_bytes(_dump(message))


def _worker_main(conn: Connection, fn_pickle: bytes, prefix: str, threshold: int) -> None:
    """The loop of one worker process: receive an item, run ``fn``, send the result."""
    # Ctrl-C reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fn = pickle.loads(fn_pickle)
    except Exception as exc:
        conn.send_bytes(_dump((_STARTUP_FAILED, WorkerFailure.from_exception(exc))))
        return
    conn.send_bytes(_dump((_READY,)))
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except EOFError:
            return  # the parent is gone or closed the pool
        if message[0] == _STOP:
            return
        seq, payload = message[1], message[2]
        reply = _run_one(fn, seq, payload, f"{prefix}r{seq}", threshold)
        try:
            conn.send_bytes(reply)
        except OSError:
            unlink_block(f"{prefix}r{seq}")  # nobody will receive it
            return


def _run_one(
    fn: Callable[[Any], Any], seq: int, payload: Payload, block: str, threshold: int
) -> bytes:
    try:
        result = fn(decode(payload, unlink=False))
    except Exception as exc:
        return _dump((_FAILED, seq, WorkerFailure.from_exception(exc)))
    try:
        out = encode(result, block, threshold=threshold, track=False)
    except Exception as exc:
        context = "the function's result could not be pickled: "
        return _dump((_FAILED, seq, WorkerFailure.from_exception(exc, context)))
    return _dump((_DONE, seq, out))
