"""Keeping the lake fast and bounded: compaction of small files, and retention.

**Compaction** merges the small data files of one partition into one file,
in four steps, each of which leaves the lake readable and loses no row:

1. write a manifest ``_compact-<id>.json`` naming the inputs and the output;
2. write the merged output, atomically (it is complete, or absent);
3. delete the inputs;
4. delete the manifest.

A crash before step 2 finishes leaves the inputs and a manifest whose output
does not exist: the next compaction deletes that manifest and starts over. A
crash after step 2 leaves the output *and* some inputs, so the rows of those
inputs are visible twice; the next compaction finds the manifest, sees the
output is there and finishes steps 3 and 4 (roll forward), so the duplicates
last only until then. Concurrent readers may see the same short window of
duplicates between steps 2 and 3: rows can appear twice for a moment, never
go missing. Run one compaction at a time per lake (the manifest is not a
lock); writers may keep writing, since files that arrive during a run are not
among its inputs.

Only files the lake named (``part-<time>-<id>.parquet``) are merged; other
files in a partition are the user's and stay as they are. Files younger
than ``min_age_seconds`` (by the time in their name) are left
alone: the lake sink removes files written after its last checkpoint when a
pipeline restarts, and a file merged away before that could not be removed.

**Retention** deletes whole ``date=`` partitions whose day ended more than
``days`` ago. Only the directories of the lake's own tables are touched.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from streamgale.lake.layout import part_name, partition_date, written_at
from streamgale.lake.storage import FileInfo, LakeStorage, pyarrow_modules

__all__ = ["compact_table", "expire_table"]

_MANIFEST_PREFIX = "_compact-"


def _partitions(storage: LakeStorage, table: str) -> dict[str, list[FileInfo]]:
    """Files of ``table`` by partition directory."""
    by_dir: dict[str, list[FileInfo]] = defaultdict(list)
    for info in storage.list_files(table):
        directory, _, _ = info.path.rpartition("/")
        by_dir[directory].append(info)
    return by_dir


def compact_table(
    storage: LakeStorage,
    table: str,
    *,
    min_files: int,
    small_bytes: int,
    min_age_seconds: float,
    now: datetime,
) -> int:
    """Compact every partition of ``table``; the number of input files removed."""
    removed = 0
    for directory, files in sorted(_partitions(storage, table).items()):
        gone = _finish_manifests(storage, files)
        removed += len(gone)
        inputs = [
            f.path
            for f in files
            if f.path not in gone and _is_candidate(f, small_bytes, min_age_seconds, now)
        ]
        if len(inputs) >= min_files:
            removed += _merge(storage, directory, inputs, now)
            _release_arrow_memory()
    return removed


def _release_arrow_memory() -> None:
    """Give the memory of a merge back to the system.

    Arrow's allocator (mimalloc or jemalloc) keeps freed pages for reuse; a
    merge of a few hundred files reads them all at once, so without this a
    long-running service keeps that peak resident (about 100 MiB per merge of
    600 telemetry files, issue 8's soak) until the next merge needs it.
    """
    pa, _ = pyarrow_modules()
    pa.default_memory_pool().release_unused()


def _is_candidate(info: FileInfo, small_bytes: int, min_age_seconds: float, now: datetime) -> bool:
    written = written_at(info.path.rpartition("/")[2])
    if written is None or info.size >= small_bytes:
        return False  # a file the lake did not name is a user's: never merged away
    return (now - written).total_seconds() >= min_age_seconds


def _merge(storage: LakeStorage, directory: str, inputs: list[str], now: datetime) -> int:
    pa, _ = pyarrow_modules()
    output = f"{directory}/{part_name(now)}"
    manifest = f"{directory}/{_MANIFEST_PREFIX}{uuid.uuid4().hex[:8]}.json"
    document = {"output": output, "inputs": inputs, "created": now.isoformat()}
    storage.write_bytes(manifest, json.dumps(document, indent=2).encode())
    tables = [storage.read_table(path) for path in inputs]
    # Files written under an older schema lack newer columns: those become null.
    merged = pa.concat_tables(tables, promote_options="permissive")
    if "ts" in merged.column_names:
        merged = merged.sort_by("ts")
    storage.write_parquet(output, merged)
    for path in inputs:
        storage.delete(path)
    storage.delete(manifest)
    return len(inputs)


def _finish_manifests(storage: LakeStorage, files: list[FileInfo]) -> set[str]:
    """Complete or undo the compactions a crash interrupted; the inputs removed."""
    removed: set[str] = set()
    for info in files:
        name = info.path.rpartition("/")[2]
        if not (name.startswith(_MANIFEST_PREFIX) and name.endswith(".json")):
            continue
        document = _read_manifest(storage, info.path)
        if document is not None and storage.exists(str(document["output"])):
            for path in document["inputs"]:
                if storage.exists(str(path)):
                    storage.delete(str(path))
                    removed.add(str(path))
        storage.delete(info.path)
    return removed


def _read_manifest(storage: LakeStorage, path: str) -> dict[str, Any] | None:
    data = storage.read_bytes(path)
    try:
        document = json.loads(data) if data is not None else None
    except ValueError:
        return None  # torn by a crash while written: its output was never written either
    if not isinstance(document, dict) or "output" not in document or "inputs" not in document:
        return None
    return document


def expire_table(storage: LakeStorage, table: str, *, days: float, now: datetime) -> int:
    """Delete the ``date=`` partitions of ``table`` that ended before ``now - days``."""
    cutoff = now.astimezone(UTC) - timedelta(days=days)
    removed = 0
    for directory in storage.list_dirs(table):
        day = partition_date(directory)
        if day is None:
            continue  # not ours: a user's directory stays
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(1)
        if day_end <= cutoff:
            storage.delete_tree(f"{table}/{directory}")
            removed += 1
    return removed
