"""Asking for stored instances to be processed again (``streamgale reprocess``).

A request names a study, series or SOP Instance UID and is queued in the
instance store's index (``<instances>/index.sqlite``), durable on return.
The service that owns the store carries requests out
(:meth:`~streamgale.dicom.ingest.InstanceStore.reprocess_requested`): it
publishes each matching instance again, and the pipeline runs it through the
routes and models it has now, so a study gets a new result version. A
running service does so within a second or two; a stopped one when it next
starts. The command never writes the log itself: the log has one writer, the
service.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from streamgale.dicom.ingest.index import InstanceIndex
from streamgale.errors import DicomError

__all__ = ["INDEX_FILE", "request_reprocess"]

INDEX_FILE = "index.sqlite"
"""The instance store's index, under the store's directory."""


def request_reprocess(
    directory: Path, uid: str, *, clock: Callable[[], float] = time.time
) -> list[str]:
    """Queue ``uid`` (a study, series or instance) for reprocessing; return the instances it covers.

    Raises :class:`~streamgale.errors.DicomError` if ``directory`` holds no
    instance store or no stored instance matches ``uid``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     request_reprocess(Path(tmp), "1.2.3")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streamgale.errors.DicomError: no instance store in ...; ...
    """
    path = Path(directory) / INDEX_FILE
    if not path.is_file():
        msg = f"no instance store in {directory}; give the service's --state-dir"
        raise DicomError(msg)
    index = InstanceIndex(path)
    try:
        matching = index.matching(uid)
        if not matching:
            msg = (
                f"no stored instance has study, series or SOP Instance UID {uid}; "
                "it was never received here, or was purged"
            )
            raise DicomError(msg)
        index.request_reprocess(uid, clock())
        return matching
    finally:
        index.close()
