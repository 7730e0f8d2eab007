"""STOW-RS under hostile load: concurrent requests are capped, junk and bombs are refused unread."""

from __future__ import annotations

import socket
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pydicom
import pytest

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.web import StowServer, build_related
from streamgale.errors import ConfigError
from streamgale.log import MemoryLog
from tests.dicom.quality.hostile import deflate_bomb
from tests.dicom.web.helpers import post


def test_requests_beyond_max_concurrent_requests_get_503_with_retry_after(
    store: InstanceStore,
) -> None:
    header, body = build_related([b"junk"])
    headers = {"Content-Type": header}
    with StowServer(store, max_concurrent_requests=1) as server:
        host, port = server.address
        with socket.create_connection((host, port), timeout=5) as slow:
            # A sender that announced a body and is still sending it holds the one slot.
            slow.sendall(
                f"POST /dicomweb/studies HTTP/1.1\r\nHost: x\r\nContent-Type: {header}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            deadline = time.monotonic() + 5
            status, answer_headers, answer = post(f"{server.url}/studies", body, headers)
            while status != 503 and time.monotonic() < deadline:
                time.sleep(0.02)  # until the slow request's thread has taken the slot
                status, answer_headers, answer = post(f"{server.url}/studies", body, headers)
            assert status == 503, answer
            assert answer_headers["retry-after"] == "1"
            assert "max_concurrent_requests" in answer["error"]
            slow.sendall(body)
            assert slow.recv(64).startswith(b"HTTP/1.1 409")
        status, _, _ = post(f"{server.url}/studies", body, headers)
        assert status == 409  # the slot is free again


def test_max_concurrent_requests_must_be_positive(store: InstanceStore) -> None:
    with pytest.raises(ConfigError, match="max_concurrent_requests"):
        StowServer(store, max_concurrent_requests=0)


@pytest.mark.parametrize("path", ["/studies", "/studies/1.2.3"])
def test_junk_parts_are_refused_without_pydicom_reading_them(
    server: StowServer, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    reads: list[object] = []
    real = pydicom.dcmread

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counted)
    header, body = build_related([bytes(8 << 20), b"%PDF-1.4\n" + bytes(1 << 20)])
    status, _, answer = post(f"{server.url}{path}", body, {"Content-Type": header})
    assert status == 409
    reasons = [item["00091001"]["Value"][0] for item in answer["0008119A"]["Value"]]
    assert len(reasons) == 2
    assert not reads, f"pydicom read junk {len(reads)} times"


@pytest.mark.parametrize("path", ["/studies", "/studies/1.2.3"])
def test_a_deflate_bomb_part_is_refused_without_inflating_it(tmp_path: Path, path: str) -> None:
    store = InstanceStore(tmp_path / "store", MemoryLog(), max_instance_bytes=4 << 20)
    bomb = deflate_bomb("stow-bomb", inflated_mib=64)
    header, body = build_related([bomb])
    try:
        with StowServer(store) as server:
            tracemalloc.start()
            try:
                status, _, answer = post(f"{server.url}{path}", body, {"Content-Type": header})
                peak = tracemalloc.get_traced_memory()[1] >> 20
            finally:
                tracemalloc.stop()
    finally:
        store.close()
    assert status == 409, answer
    [failed] = answer["0008119A"]["Value"]
    if path == "/studies":
        assert "inflates to more than 4194304 bytes" in failed["00091001"]["Value"][0]
    assert peak < 32, f"refusing a 64 MiB deflate bomb held {peak} MiB"
