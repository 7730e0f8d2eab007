"""How the lake names its directories and files (Hive partitioning).

``<table>/date=YYYY-MM-DD/pipeline=<url-quoted name>/part-<utc time>-<uuid8>.parquet``

``date`` is the UTC date of the rows' ``ts``. Names starting with ``.`` or
``_`` are the lake's own bookkeeping (temporary files, compaction manifests)
and never data, so readers globbing ``*.parquet`` skip them too.

>>> from datetime import datetime, timezone
>>> partition_dir("telemetry", "2024-05-01", "radiology west")
'telemetry/date=2024-05-01/pipeline=radiology%20west'
>>> name = part_name(datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
>>> name[:27], is_data_file(name), is_data_file("." + name + ".tmp")
('part-20240501T120000000000-', True, False)
>>> written_at(name)
datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
>>> partition_date("date=2024-05-01"), partition_date("notes")
(datetime.date(2024, 5, 1), None)
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from urllib.parse import quote

__all__ = [
    "CATALOG_FILE",
    "LAYOUT",
    "is_data_file",
    "part_name",
    "partition_date",
    "partition_dir",
    "table_glob",
    "written_at",
]

CATALOG_FILE = "_catalog.json"
LAYOUT = "<table>/date=YYYY-MM-DD/pipeline=<url-quoted name>/part-<yyyymmddThhmmssffffff>-<uuid8>"
"""The layout, as the catalog file states it for other readers."""

_PART = re.compile(r"part-(\d{8}T\d{12})-[0-9a-f]{8}\.parquet")
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


def partition_dir(table: str, day: str, pipeline: str) -> str:
    """The directory of one partition, relative to the lake root."""
    return f"{table}/date={day}/pipeline={quote(pipeline, safe='')}"


def table_glob(table: str) -> str:
    """Every data file of ``table``, relative to the lake root."""
    return f"{table}/**/*.parquet"


def part_name(now: datetime) -> str:
    """A new data file name: the UTC write time, then randomness against collisions."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"part-{stamp}-{uuid.uuid4().hex[:8]}.parquet"


def is_data_file(name: str) -> bool:
    """Whether a file name is Parquet data (not a temporary or bookkeeping file)."""
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def written_at(name: str) -> datetime | None:
    """When a ``part-`` file was written, from its name; None for other names."""
    match = _PART.fullmatch(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


def partition_date(directory: str) -> date | None:
    """The date of a ``date=YYYY-MM-DD`` directory name; None for anything else."""
    match = _DATE_DIR.fullmatch(directory)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None
