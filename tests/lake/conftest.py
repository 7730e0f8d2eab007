"""Lakes to test against: a local directory, and a bucket on a real local S3 server.

The S3 server is moto's server mode on loopback (:mod:`tests.s3server`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamgale.lake import Lake
from tests.s3server import moto_s3

BUCKET = "streamgale-lake-tests"


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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on loopback, with the test bucket created."""
    with moto_s3() as endpoint:
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield endpoint


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
