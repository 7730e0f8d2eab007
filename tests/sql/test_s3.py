"""SqlEngine on an S3 lake: moto's S3 server on loopback, read through fsspec.

DuckDB cannot download its httpfs extension offline, so the engine hands DuckDB
the fsspec filesystem instead; this test proves that path works end to end.
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
from pathlib import Path
from typing import Any

import pytest

from streamgale.errors import StreamGaleError
from streamgale.sql import SqlEngine
from tests.sql.lakes import at, telemetry, write_rows

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def _moto_server() -> str:
    for candidate in (Path(sys.executable).with_name("moto_server"), shutil.which("moto_server")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.fail("the S3 test needs moto's server: pip install 'moto[server]'")


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, Any]]:
    """fsspec options of a fresh moto S3 server on a port the OS picks."""
    server = subprocess.Popen(
        [_moto_server(), "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **_AWS_ENV},
    )
    try:
        assert server.stdout is not None
        deadline, banner = time.monotonic() + 30, ""
        while time.monotonic() < deadline and not re.search(r"http://127\.0\.0\.1:\d+", banner):
            banner += server.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", banner)
        if not found:
            pytest.fail(f"moto_server did not start: {banner!r}")
        # Drain its request log so a full pipe never stalls the server.
        threading.Thread(target=server.stdout.read, daemon=True).start()
        yield {"endpoint_url": found.group(0), "key": "testing", "secret": "testing"}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_reports_and_new_files_on_s3(
    s3_options: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    for key, value in _AWS_ENV.items():
        monkeypatch.setenv(key, value)
    fs = s3fs.S3FileSystem(**s3_options)
    fs.mkdir("sql-tests")
    local = tmp_path / "lake"
    write_rows(
        local,
        "telemetry",
        [telemetry(at(i), "inferred", duration_ms=float(i)) for i in range(1, 11)],
    )
    fs.put(f"{local}/", "sql-tests/lake/", recursive=True)

    with SqlEngine("s3://sql-tests/lake", storage_options=s3_options) as engine:
        (row,) = engine.report("stage-latency").to_dicts()
        assert (row["count"], row["duration_p50_ms"]) == (10, 5.5)
        assert engine.empty_tables == {"inferences", "results"}

        later = write_rows(
            tmp_path / "later",
            "results",
            [{"ts": at(60), "pipeline": "radiology", "result_id": "r1"}],
        )
        fs.put(
            str(later[0]),
            "sql-tests/lake/results/date=2024-05-01/pipeline=radiology/part-9.parquet",
        )
        assert engine.execute("SELECT result_id FROM results").rows == [("r1",)]

        more = write_rows(tmp_path / "more", "telemetry", [telemetry(at(90), "received")])
        fs.put(
            str(more[0]), "sql-tests/lake/telemetry/date=2024-05-01/pipeline=radiology/b.parquet"
        )
        assert engine.execute("SELECT count(*) FROM telemetry").rows == [(11,)]

        with pytest.raises(StreamGaleError, match="Permission Error"):
            engine.execute(f"SELECT * FROM read_parquet('{later[0]}')")
