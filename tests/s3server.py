"""A real S3-compatible server for tests: moto's server mode on loopback.

It is started as a subprocess on 127.0.0.1 with a port the OS picks. The
credentials are dummies, and the AWS config files and the instance metadata
lookup are switched off, so no test reaches the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def _moto_command() -> list[str]:
    exe = Path(sys.executable).with_name("moto_server")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("moto_server")
    if found:
        return [found]
    pytest.fail(
        "the S3 tests need moto's server mode, which is not installed; "
        "install it with: pip install 'moto[server]' (make test does)"
    )


@contextmanager
def moto_s3() -> Iterator[str]:
    """The URL of a fresh moto S3 server, stopped on exit (AWS_ENV set meanwhile)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        server = subprocess.Popen(
            [*_moto_command(), "-H", "127.0.0.1", "-p", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **AWS_ENV},
        )
        try:
            yield _wait_for_port(server)
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
