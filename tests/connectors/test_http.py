"""HttpSource over real HTTP on 127.0.0.1: answers, backpressure, restart and SIGKILL."""

from __future__ import annotations

import http.client
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import streamgale.connectors.http as http_module
from streamgale.connectors.base import BuildContext
from streamgale.connectors.http import HttpSource
from streamgale.connectors.ingest import IngestPartition
from streamgale.errors import ConfigError, StreamGaleError

NDJSON = "application/x-ndjson"
JSON = "application/json"


def post(url: str, data: bytes, content_type: str | None = JSON) -> tuple[int, Any, dict[str, str]]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


def read_all(part: IngestPartition) -> list[Any]:
    out: list[Any] = []
    while batch := part.next_batch():
        out.extend(batch)
    return out


@pytest.fixture
def started(ctx: BuildContext) -> Iterator[tuple[HttpSource, IngestPartition]]:
    source = HttpSource(port=0, max_body=1000, max_backlog_records=5)
    part = source.build_part(ctx, "0", None)
    yield source, part
    part.close()


def test_json_and_ndjson_are_acknowledged_then_readable(
    started: tuple[HttpSource, IngestPartition], ctx: BuildContext
) -> None:
    source, part = started
    status, answer, _ = post(source.url, b'{"n": 1}')
    assert (status, answer) == (200, {"accepted": 1, "partition": 0, "offsets": [0, 0]})
    assert ctx.wake.is_set()
    status, answer, _ = post(source.url, b'{"n": 2}\n{"n": 3}\n', NDJSON)
    assert (status, answer["offsets"]) == (200, [1, 2])
    status, answer, _ = post(source.url + "?tag=x", b'[{"n": 4}]')
    assert status == 200 and answer["accepted"] == 1
    assert read_all(part) == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        (b'{"n": ', JSON, 400, "the body is not valid JSON: Expecting value at line 1"),
        (b'{"n": 1}\n{"n": }\n', NDJSON, 400, "line 2 is not valid JSON"),
        (b'[{"n": 1}, 5]', JSON, 400, "element 1 of the array is a JSON number"),
        (b'{"n": 1}', "text/plain", 415, "unsupported Content-Type 'text/plain'"),
        (b'{"n": 1}', None, 415, "unsupported Content-Type"),
        (b"[" + b'{"n": 1},' * 200 + b"{}]", JSON, 413, "more than the limit of 1000"),
    ],
)
def test_refused_requests_explain_and_store_nothing(
    started: tuple[HttpSource, IngestPartition],
    data: bytes,
    content_type: str | None,
    status: int,
    message: str,
) -> None:
    source, part = started
    got_status, answer, _ = post(source.url, data, content_type)
    assert got_status == status
    assert message in answer["error"]
    assert part.next_batch() == []


def test_paths_methods_and_health(started: tuple[HttpSource, IngestPartition]) -> None:
    source, _ = started
    host, port = source.address
    base = f"http://{host}:{port}"
    status, answer, _ = post(base + "/elsewhere", b"{}")
    assert status == 404 and "POST records to /ingest" in answer["error"]
    try:
        urllib.request.urlopen(source.url, timeout=10)
        raise AssertionError("GET on the ingest path must fail")
    except urllib.error.HTTPError as error:
        assert error.code == 405 and error.headers["Allow"] == "POST"
    with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
        assert response.status == 200 and json.load(response) == {"status": "ok"}


def test_backpressure_answers_503_with_retry_after(
    started: tuple[HttpSource, IngestPartition],
) -> None:
    source, part = started
    assert post(source.url, b'[{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 5}]')[0] == 200
    status, answer, headers = post(source.url, b'{"n": 6}')
    assert status == 503 and headers["Retry-After"] == "1"
    assert "5 records behind (limit 5)" in answer["error"]
    assert len(read_all(part)) == 5
    part.snapshot()
    part.on_commit()  # the pipeline caught up
    assert post(source.url, b'{"n": 6}')[0] == 200


def test_missing_content_length_is_411(started: tuple[HttpSource, IngestPartition]) -> None:
    source, _ = started
    with socket.create_connection(source.address, timeout=10) as sock:
        sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n")
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 411") and "Content-Length" in reply


def test_keep_alive_connection_survives_a_refused_body(
    started: tuple[HttpSource, IngestPartition],
) -> None:
    source, part = started
    connection = http.client.HTTPConnection(*source.address, timeout=10)
    connection.request("POST", "/ingest", b"{bad", {"Content-Type": JSON})
    first = connection.getresponse()
    assert first.status == 400
    first.read()
    connection.request("POST", "/ingest", b'{"n": 1}', {"Content-Type": JSON})
    assert connection.getresponse().status == 200
    connection.close()
    assert read_all(part) == [{"n": 1}]


def test_server_runs_while_any_partition_is_open(ctx: BuildContext) -> None:
    source = HttpSource(port=0, partitions=2)
    with pytest.raises(StreamGaleError, match="build a partition first"):
        source.address  # noqa: B018 - the property raises
    parts = [source.build_part(ctx, p, None) for p in source.list_parts()]
    url = source.url
    assert [post(url, b'{"n": 1}')[1]["partition"] for _ in range(2)] == [0, 1]
    copy = pickle.loads(pickle.dumps(source))  # configuration only
    assert copy.port == 0 and copy._server is None
    parts[0].close()
    assert post(url, b'{"n": 2}')[0] == 200
    parts[1].close()
    with pytest.raises(urllib.error.URLError):
        post(url, b'{"n": 3}')
    with pytest.raises(ConfigError, match="unknown partition"):
        source.build_part(ctx, "2", None)


def test_busy_port_is_a_config_error(ctx: BuildContext, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        source = HttpSource(port=busy.getsockname()[1])
        with pytest.raises(ConfigError, match="cannot listen"):
            source.build_part(ctx, "0", None)
    # the failed start released the log directory: it can be opened again
    again = HttpSource(port=0).build_part(ctx, "0", None)
    again.close()


def test_restart_yields_exactly_the_uncommitted_records(ctx: BuildContext) -> None:
    source = HttpSource(port=0)
    part = source.build_part(ctx, "0", None)
    for n in range(3):
        assert post(source.url, json.dumps({"n": n}).encode())[0] == 200
    assert read_all(part) == [{"n": 0}, {"n": 1}, {"n": 2}]
    part.snapshot()
    part.on_commit()
    assert post(source.url, b'{"n": 3}\n{"n": 4}', NDJSON)[0] == 200
    assert part.next_batch() == [{"n": 3}, {"n": 4}]  # read, but never committed
    part.close()

    restarted = HttpSource(port=0)  # as after a crash: a fresh builder, the same state
    part = restarted.build_part(ctx, "0", None)
    assert read_all(part) == [{"n": 3}, {"n": 4}]
    assert post(restarted.url, b'{"n": 5}')[1]["offsets"] == [5, 5]
    part.close()


CHILD = """
import sys, threading, time
from pathlib import Path
from streamgale.connectors.base import BuildContext
from streamgale.connectors.http import HttpSource

source = HttpSource(port=0)
part = source.build_part(BuildContext("web", Path(sys.argv[1]), threading.Event()), "0", None)
print(source.address[1], flush=True)
time.sleep(120)
"""


@pytest.mark.crash
def test_acknowledged_requests_survive_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    package_root = Path(http_module.__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state)], stdout=subprocess.PIPE, env=env, text=True
    )
    acked: list[int] = []
    lock = threading.Lock()
    try:
        assert child.stdout is not None
        url = f"http://127.0.0.1:{int(child.stdout.readline())}/ingest"
        stop = threading.Event()

        def sender(worker: int) -> None:
            for i in range(100_000):
                ids = [worker * 1_000_000 + i * 3 + k for k in range(1 + i % 3)]
                try:
                    status, _, _ = post(url, json.dumps([{"id": x} for x in ids]).encode())
                except (OSError, http.client.HTTPException):
                    return  # the server died mid-request: not acknowledged
                if status == 200:
                    with lock:
                        acked.extend(ids)
                if stop.is_set():
                    return

        senders = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
        for t in senders:
            t.start()
        deadline = time.monotonic() + 10
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)  # while requests are in flight
        child.wait(10)
        stop.set()
        for t in senders:
            t.join(15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert len(acked) >= 300
    ctx = BuildContext("web", state, threading.Event())
    part = HttpSource(port=0).build_part(ctx, "0", None)
    stored = [r["id"] for r in read_all(part)]
    part.close()
    assert len(stored) == len(set(stored))
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged records were lost"
