"""SqlEngine on an S3 lake: moto's S3 server on loopback, read through fsspec.

DuckDB cannot download its httpfs extension offline, so the engine hands DuckDB
the fsspec filesystem instead; this test proves that path works end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamgale.errors import StreamGaleError
from streamgale.sql import SqlEngine
from tests.s3server import AWS_ENV, moto_s3
from tests.sql.lakes import at, telemetry, write_rows


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, Any]]:
    """fsspec options of a fresh moto S3 server on a port the OS picks."""
    with moto_s3() as endpoint:
        yield {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}


def test_reports_and_new_files_on_s3(
    s3_options: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    for key, value in AWS_ENV.items():
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
