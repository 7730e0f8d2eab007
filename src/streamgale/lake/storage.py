"""Where the lake's files live: a local directory, or any fsspec URL (S3 and the like).

The lake code speaks in paths relative to the lake root, separated by ``/``;
a :class:`LakeStorage` maps them to its store. Two backends implement it:

* :class:`LocalStorage`, the embedded default, writes a file under a hidden
  temporary name (``.<name>.<random>.tmp``), fsyncs it, renames it into place
  and fsyncs the directory, so a reader's ``*.parquet`` glob never sees half a
  file and a power cut leaves the old state or the new one;
* :class:`FsspecStorage` serialises the file in memory and stores it with one
  put, which an object store makes visible all at once or not at all.

>>> import tempfile
>>> store = open_storage(tempfile.mkdtemp())
>>> store.write_bytes("a/b.json", b"{}")
>>> [f.path for f in store.list_files("a")], store.read_bytes("a/b.json")
(['a/b.json'], b'{}')
"""

from __future__ import annotations

import contextlib
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamgale.errors import ConfigError, require
from streamgale.fsutil import atomic_write, fsync_dir

__all__ = ["FileInfo", "FsspecStorage", "LakeStorage", "LocalStorage", "open_storage"]

_FEATURE = "the Parquet lake"


def pyarrow_modules() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or MissingExtraError naming the ``lake`` extra."""
    pa = require("pyarrow", feature=_FEATURE, extra="lake")
    pq = require("pyarrow.parquet", feature=_FEATURE, extra="lake")
    return pa, pq


@dataclass(frozen=True)
class FileInfo:
    """One stored file: its path relative to the lake root and its size in bytes."""

    path: str
    size: int


class LakeStorage(ABC):
    """Files under one root; every path is relative to it and uses ``/``."""

    root: str
    """The root as the user gave it: a directory or a URL."""

    def url(self, path: str = "") -> str:
        """The absolute path or URL of ``path``, as a query engine should read it."""
        return f"{self.root.rstrip('/')}/{path}" if path else self.root

    @abstractmethod
    def write_parquet(self, path: str, table: Any) -> None:
        """Store an Arrow table as a Parquet file, atomically: all of it or nothing."""

    @abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None:
        """Store ``data``, atomically replacing any file at ``path``."""

    @abstractmethod
    def read_bytes(self, path: str) -> bytes | None:
        """The content of ``path``, or None when there is no such file."""

    @abstractmethod
    def read_table(self, path: str) -> Any:
        """Read a Parquet file as an Arrow table."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether a file is stored at ``path``."""

    @abstractmethod
    def list_files(self, directory: str) -> list[FileInfo]:
        """Every file under ``directory``, at any depth, hidden ones included; sorted."""

    @abstractmethod
    def list_dirs(self, directory: str) -> list[str]:
        """Names of the directories directly in ``directory``; empty when it is missing."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete one file; a missing file is not an error."""

    @abstractmethod
    def delete_tree(self, directory: str) -> None:
        """Delete a directory and everything in it."""


class LocalStorage(LakeStorage):
    """A directory on this machine, written with temp file, fsync and rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        self._base = Path(self.root).absolute()

    def url(self, path: str = "") -> str:
        """The absolute path of ``path`` (DuckDB reads plain paths)."""
        return str(self._base / path) if path else str(self._base)

    def _path(self, path: str) -> Path:
        return self._base / path

    def _make_parent(self, target: Path) -> None:
        # New directories must be fsynced into their parents too, or a crash
        # can lose a partition directory holding an fsynced file.
        missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        for directory in reversed(missing):
            fsync_dir(directory.parent)

    def write_parquet(self, path: str, table: Any) -> None:
        """Write under a hidden temporary name, fsync, rename into place."""
        _, pq = pyarrow_modules()
        target = self._path(path)
        self._make_parent(target)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            pq.write_table(table, tmp, compression="zstd")
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Replace the file atomically (see :func:`streamgale.fsutil.atomic_write`)."""
        target = self._path(path)
        self._make_parent(target)
        atomic_write(target, data)

    def read_bytes(self, path: str) -> bytes | None:
        """The file's bytes, or None."""
        try:
            return self._path(path).read_bytes()
        except FileNotFoundError:
            return None

    def read_table(self, path: str) -> Any:
        """Read the Parquet file."""
        _, pq = pyarrow_modules()
        return pq.read_table(self._path(path))

    def exists(self, path: str) -> bool:
        """Whether the file exists."""
        return self._path(path).is_file()

    def list_files(self, directory: str) -> list[FileInfo]:
        """Files under ``directory`` with their sizes."""
        start = self._path(directory)
        found = []
        for folder, _, names in os.walk(start):
            for name in names:
                full = Path(folder) / name
                try:
                    size = full.stat().st_size
                except FileNotFoundError:  # deleted by a concurrent compaction
                    continue
                found.append(FileInfo(full.relative_to(self._base).as_posix(), size))
        return sorted(found, key=lambda f: f.path)

    def list_dirs(self, directory: str) -> list[str]:
        """Subdirectory names."""
        try:
            return sorted(p.name for p in self._path(directory).iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def delete(self, path: str) -> None:
        """Unlink the file and fsync its directory."""
        target = self._path(path)
        try:
            target.unlink()
        except FileNotFoundError:
            return
        fsync_dir(target.parent)

    def delete_tree(self, directory: str) -> None:
        """Remove the directory tree."""
        import shutil

        target = self._path(directory)
        shutil.rmtree(target, ignore_errors=True)
        if target.parent.exists():
            fsync_dir(target.parent)


class FsspecStorage(LakeStorage):
    """Any fsspec filesystem: ``s3://bucket/prefix`` (needs s3fs), ``memory://``, ...

    ``storage_options`` go to the filesystem, e.g. for an S3-compatible
    server: ``{"endpoint_url": "http://127.0.0.1:9000", "key": ..., "secret": ...}``.
    """

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        fsspec: Any = require("fsspec", feature=_FEATURE, extra="lake")
        self.root = root.rstrip("/")
        protocol = root.split("://", 1)[0]
        if protocol in ("s3", "s3a"):
            require("s3fs", feature="a lake on S3", extra="lake")
        self._fs, self._base = fsspec.core.url_to_fs(self.root, **dict(storage_options or {}))
        self._base = self._base.rstrip("/")

    def _path(self, path: str) -> str:
        return f"{self._base}/{path}" if path else self._base

    def write_parquet(self, path: str, table: Any) -> None:
        """Serialise in memory, then one put: the object appears whole or not at all."""
        pa, pq = pyarrow_modules()
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        self._fs.pipe_file(self._path(path), sink.getvalue().to_pybytes())

    def write_bytes(self, path: str, data: bytes) -> None:
        """One put."""
        self._fs.pipe_file(self._path(path), data)

    def read_bytes(self, path: str) -> bytes | None:
        """The object's bytes, or None."""
        try:
            data: bytes = self._fs.cat_file(self._path(path))
        except FileNotFoundError:
            return None
        return data

    def read_table(self, path: str) -> Any:
        """Read the Parquet object."""
        _, pq = pyarrow_modules()
        with self._fs.open(self._path(path), "rb") as file:
            return pq.read_table(file)

    def exists(self, path: str) -> bool:
        """Whether the object exists (asking the store, not a cached listing)."""
        self._fs.invalidate_cache(self._path(path))
        return bool(self._fs.isfile(self._path(path)))

    def list_files(self, directory: str) -> list[FileInfo]:
        """Objects under ``directory``; the listing cache is dropped first.

        Other processes write the same lake (the pipeline, the ``lake`` CLI),
        so a cached listing would hide their files.
        """
        start = self._path(directory)
        self._fs.invalidate_cache(start)
        try:
            found = self._fs.find(start, detail=True)
        except FileNotFoundError:
            return []
        prefix = self._base + "/"
        return sorted(
            (
                FileInfo(name[len(prefix) :], int(info.get("size") or 0))
                for name, info in found.items()
                if info.get("type") != "directory" and name.startswith(prefix)
            ),
            key=lambda f: f.path,
        )

    def list_dirs(self, directory: str) -> list[str]:
        """Names of the "directories" (common prefixes) directly under ``directory``."""
        start = self._path(directory)
        self._fs.invalidate_cache(start)
        try:
            entries = self._fs.ls(start, detail=True)
        except FileNotFoundError:
            return []
        return sorted(
            str(e["name"]).rstrip("/").rsplit("/", 1)[-1]
            for e in entries
            if e.get("type") == "directory"
        )

    def delete(self, path: str) -> None:
        """Delete the object."""
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(self._path(path))

    def delete_tree(self, directory: str) -> None:
        """Delete every object under ``directory``."""
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm(self._path(directory), recursive=True)
        self._fs.invalidate_cache(self._path(directory))


def open_storage(
    root: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> LakeStorage:
    """:class:`LocalStorage` for a path (or ``file://`` URL), else :class:`FsspecStorage`."""
    text = os.fspath(root)
    if "://" in text and not text.startswith("file://"):
        return FsspecStorage(text, storage_options)
    if storage_options:
        raise ConfigError(
            f"storage options {sorted(storage_options)} were given for the local lake "
            f"'{text}'; they apply to URLs such as s3://bucket/prefix only, so drop them "
            "or give the lake as a URL",
            key="storage_options",
        )
    return LocalStorage(text.removeprefix("file://"))
