"""Lakes to test against: a local directory, and a bucket on a real local S3 server.

The S3 server is moto's server mode, started as a subprocess on 127.0.0.1 with
a port the OS picks. Credentials are dummies and the AWS config files and the
instance metadata lookup are switched off, so no test reaches the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamgale.lake import Lake

BUCKET = "streamgale-lake-tests"

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass(frozen=True)
class LakeTarget:
    """Where a test's lake lives: ``root`` and the ``storage_options`` to reach it."""

    kind: str
    root: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def lake(self) -> Lake:
        return Lake(self.root, storage_options=self.storage_options or None)

    def filesystem(self) -> tuple[Any, str]:
        """An fsspec filesystem and the root's path on it, to read files independently."""
        import fsspec

        fs, path = fsspec.core.url_to_fs(self.root, **self.storage_options)
        return fs, path


def _moto_command() -> list[str]:
    exe = Path(sys.executable).with_name("moto_server")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("moto_server")
    if found:
        return [found]
    pytest.fail(
        "the S3 tests need moto's server mode, which is not installed; "
        "install it with: pip install 'moto[server]'"
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on loopback, with the test bucket created."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in _AWS_ENV.items():
            patch.setenv(key, value)
        server = subprocess.Popen(
            [*_moto_command(), "-H", "127.0.0.1", "-p", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **_AWS_ENV},
        )
        try:
            endpoint = _wait_for_port(server)
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            client.create_bucket(Bucket=BUCKET)
            yield endpoint
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_for_port(server: subprocess.Popen[str]) -> str:
    """The server's URL, read from its start-up banner (the OS chose the port)."""
    assert server.stdout is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
        if match:
            # Keep reading its request log, or a full pipe would stall the server.
            threading.Thread(target=server.stdout.read, daemon=True).start()
            return match.group(1)
    server.kill()
    pytest.fail(f"moto_server did not start; it said: {''.join(seen)!r}")


@pytest.fixture
def s3_target(s3_endpoint: str) -> LakeTarget:
    """A fresh prefix in the test bucket."""
    return LakeTarget(
        "s3",
        f"s3://{BUCKET}/lake-{uuid.uuid4().hex[:8]}",
        {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"},
    )


@pytest.fixture(params=["local", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> LakeTarget:
    """The same test against a local directory and against S3."""
    if request.param == "local":
        return LakeTarget("local", str(tmp_path / "lake"))
    s3: LakeTarget = request.getfixturevalue("s3_target")
    return s3
