"""A STOW-RS endpoint (PS3.18 10.5) on the standard library's HTTP server.

``POST {prefix}/studies`` and ``POST {prefix}/studies/{StudyInstanceUID}``
take ``multipart/related; type="application/dicom"`` bodies. Each part goes
to the instance store, which answers only once the instance is durable; then
the request's stored SOP Instance UIDs are signalled complete (scope
``"stow"``: the end of a STOW request is an explicit completion signal), and
the answer is the Store Instances Response (PS3.18 10.5.3, Annex I) as
``application/dicom+json``, built by :mod:`streamgale.dicom.web.response`.

=====  =====================================================================
200    every instance stored (a resent instance, already stored, counts as
       stored: a resend is harmless)
202    some stored, some refused: see Failed SOP Sequence (0008,1198)
409    none stored; each refusal is in the response body
400    malformed multipart body or study UID in the URL (``{"error": ...}``)
401    the ``auth`` check refused the Authorization header
404    unknown path; 405: a method other than POST on ``/studies``
406    an Accept header that excludes application/dicom+json
411    neither Content-Length nor chunked transfer coding
413    body larger than ``max_body``
415    Content-Type is not multipart/related, or its ``type`` is not
       application/dicom
503    ``max_concurrent_requests`` POSTs are already being served (each
       holds its body in memory); ``Retry-After`` says when to try again
=====  =====================================================================

Per-instance Failure Reasons (0008,1197), PS3.18 Table I.2-2, each with a
reason text in the private element described in
:mod:`~streamgale.dicom.web.response`:

* ``0xA900``: the instance's Study Instance UID (0020,000D) differs from the
  one in the request URL. PS3.18 10.5.3.1 names "Study Instance UID
  mismatch" as a conflict (409 when nothing is stored); A9xx is the
  standard's family for a data set that does not match what was requested,
  and other servers use it for this case too (Azure: 0xA901). The instance
  is not stored.
* ``0xC000``: the store refused the instance as unusable (not DICOM, a
  required UID missing; the text is the store's reason), the part's
  Content-Type is not application/dicom, or, on a study URL, its Study
  Instance UID cannot be read and so cannot be checked.
* ``0xA700``: the disk is full. ``0x0110``: any other error while storing.

``GET {prefix}/healthz`` answers 200 ``{"status": "ok"}``. Responses are
sent with TCP_NODELAY so the body does not wait for a delayed ACK.

>>> import tempfile
>>> from pathlib import Path
>>> from streamgale.dicom.ingest import InstanceStore
>>> from streamgale.dicom.synthetic import ct_series
>>> from streamgale.dicom.web.client import StowClient
>>> from streamgale.log import MemoryLog
>>> store = InstanceStore(Path(tempfile.mkdtemp()), MemoryLog())
>>> with StowServer(store) as server:
...     result = StowClient(server.url).store(ct_series(slices=2, size=32))
>>> result.status, len(result.stored), len(store)
(200, 2, 2)
>>> store.close()
"""

from __future__ import annotations

import hmac
import io
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from streamgale.dicom.ingest.inspection import MAX_INFLATED_BYTES, screen_instance
from streamgale.dicom.web._http import StowHTTPServer, bind
from streamgale.dicom.web.multipart import (
    DICOM_MEDIA_TYPE,
    BodyPart,
)
from streamgale.dicom.web.response import (
    FailureReason,
    InstanceFailure,
    InstanceReference,
    StoreInstancesResponse,
)
from streamgale.errors import ConfigError, InvalidInstanceError, StreamGaleError
from streamgale.fsutil import is_out_of_space

__all__ = ["SOURCE", "Authorizer", "InstanceSink", "StoredRef", "StowServer", "bearer_auth"]

logger = logging.getLogger("streamgale.dicom.web.stow")

MiB = 1024 * 1024
SOURCE: Literal["stow"] = "stow"
"""The ``source`` and completion scope StreamGale records for STOW-RS input."""

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")

Authorizer = Callable[[str | None], bool]
"""Decides from the Authorization header value (None when absent) whether to serve."""


class StoredRef(Protocol):
    """What the store says it stored (``StoredInstance`` has these and more)."""

    @property
    def sop_class_uid(self) -> str: ...

    @property
    def sop_instance_uid(self) -> str: ...


class InstanceSink(Protocol):
    """Where the endpoint puts instances: :class:`streamgale.dicom.ingest.InstanceStore`."""

    def put(
        self, data: bytes, /, *, source: Literal["stow"], calling_ae: str | None = None
    ) -> StoredRef:
        """Store one Part-10 instance durably; raise InvalidInstanceError if unusable."""
        ...

    def signal_complete(
        self, scope: Literal["stow"], calling_ae: str | None, sop_instance_uids: list[str], /
    ) -> object:
        """Publish that the instances of one transfer (here: one request) are complete."""
        ...


def bearer_auth(token: str) -> Authorizer:
    """An :data:`Authorizer` accepting ``Authorization: Bearer <token>`` only.

    >>> check = bearer_auth("s3cret")
    >>> check("Bearer s3cret"), check("Bearer guess"), check(None)
    (True, False, False)
    """
    expected = f"Bearer {token}".encode()
    if not token:
        raise ConfigError("the bearer token must not be empty", key="auth")
    return lambda header: header is not None and hmac.compare_digest(header.encode(), expected)


class StowServer:
    """Serve STOW-RS on ``host:port`` (0 picks a free port), storing into ``store``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Bodies are
    read whole (up to ``max_body`` bytes) before parsing; send large studies in
    several requests. At most ``max_concurrent_requests`` POSTs are served at
    once, bounding memory to about that many bodies; others get 503.
    """

    def __init__(
        self,
        store: InstanceSink,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        path_prefix: str = "/dicomweb",
        max_body: int = 512 * MiB,
        auth: Authorizer | None = None,
        request_timeout_s: float = 60.0,
        max_concurrent_requests: int = 8,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"port must be 0 to 65535, got {port!r}", key="port")
        prefix = path_prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ConfigError(
                f"path_prefix must start with '/', got {path_prefix!r}", key="path_prefix"
            )
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ConfigError(f"max_body must be a positive integer, got {max_body!r}")
        if (
            isinstance(max_concurrent_requests, bool)
            or not isinstance(max_concurrent_requests, int)
            or max_concurrent_requests < 1
        ):
            raise ConfigError(
                f"max_concurrent_requests must be a positive integer, got "
                f"{max_concurrent_requests!r}",
                key="max_concurrent_requests",
            )
        self.max_concurrent_requests = max_concurrent_requests
        self.store, self.host, self.port = store, host, port
        self.path_prefix, self.max_body, self.auth = prefix, max_body, auth
        self.request_timeout_s = request_timeout_s
        self._http: StowHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StowServer:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._http is not None:
            raise StreamGaleError("the STOW-RS server is already running")
        self._http = bind(self)
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="streamgale-stow",
            daemon=True,
        )
        self._thread.start()
        logger.info("STOW-RS listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop accepting requests and close the socket (idempotent)."""
        http, thread = self._http, self._thread
        self._http = self._thread = None
        if http is not None and thread is not None:
            http.shutdown()
            http.server_close()
            thread.join()

    def __enter__(self) -> StowServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the running server listens on."""
        if self._http is None:
            raise StreamGaleError("the STOW-RS server is not running; call start() first")
        host, port = self._http.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The DICOMweb service root, e.g. ``http://127.0.0.1:8080/dicomweb``."""
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{self.path_prefix}"

    def store_parts(
        self, parts: Sequence[BodyPart], study_uid: str | None
    ) -> StoreInstancesResponse:
        """Store each part, then signal the stored ones complete; the response to send."""
        referenced: list[InstanceReference] = []
        failed: list[InstanceFailure] = []
        # The store's own bound on an instance, for reading the UIDs of refused parts.
        limit = getattr(self.store, "max_instance_bytes", MAX_INFLATED_BYTES)
        for number, part in enumerate(parts, start=1):
            outcome = _store_part(self.store, part, number, study_uid, limit)
            if isinstance(outcome, InstanceReference):
                referenced.append(outcome)
            else:
                failed.append(outcome)
        if referenced:
            uids = [ref.sop_instance_uid for ref in referenced]
            try:
                self.store.signal_complete(SOURCE, None, uids)
            except Exception:  # the instances are stored; completion falls back to the timer
                logger.exception("signalling %d STOW-RS instances complete failed", len(uids))
        return StoreInstancesResponse(tuple(referenced), tuple(failed))


@dataclass(frozen=True)
class _Identity:
    sop_class_uid: str | None
    sop_instance_uid: str | None
    study_instance_uid: str | None


def _store_part(
    store: InstanceSink, part: BodyPart, number: int, study_uid: str | None, limit: int
) -> InstanceReference | InstanceFailure:
    if part.content_type not in (None, DICOM_MEDIA_TYPE):
        return _failure(
            _identify(part.body, limit),
            FailureReason.CANNOT_UNDERSTAND,
            f"part {number} has Content-Type {part.content_type!r}; this endpoint stores "
            f"only {DICOM_MEDIA_TYPE} parts (DICOM Part 10 files)",
        )
    # Read once, and only when needed: a refused part's header is read for the
    # response, and a study URL needs its Study Instance UID before storing.
    ident = _identify(part.body, limit) if study_uid is not None else None
    if ident is not None:
        found = ident.study_instance_uid
        if found is None:  # unchecked, it must not be stored under a study URL
            return _failure(
                ident,
                FailureReason.CANNOT_UNDERSTAND,
                f"part {number} has no readable Study Instance UID (0020,000D) to check "
                f"against study {study_uid} in the URL; send a complete DICOM Part 10 file",
            )
        if found != study_uid:
            return _failure(
                ident,
                FailureReason.DATA_SET_DOES_NOT_MATCH,
                f"Study Instance UID (0020,000D) is {found!r} but the request URL names "
                f"study {study_uid}; send it to /studies or to its own study's URL",
            )
    try:
        stored = store.put(part.body, source=SOURCE, calling_ae=None)
    except InvalidInstanceError as exc:
        ident = ident or _identify(part.body, limit)
        return _failure(ident, FailureReason.CANNOT_UNDERSTAND, exc.reason, exc.sop_instance_uid)
    except Exception as exc:  # a boundary: one bad instance must not fail the others
        if is_out_of_space(exc):  # a full disk is no fault of the sender's data
            logger.warning("STOW-RS part %d refused, the disk is full: %s", number, exc)
            return _failure(
                ident or _identify(part.body, limit),
                FailureReason.REFUSED_OUT_OF_RESOURCES,
                f"the server's disk is full ({exc}); retry later",
            )
        logger.exception("storing STOW-RS part %d failed", number)
        return _failure(
            ident or _identify(part.body, limit),
            FailureReason.PROCESSING_FAILURE,
            f"the server failed while storing the instance ({type(exc).__name__}: {exc}); "
            "retry later",
        )
    return InstanceReference(stored.sop_class_uid, stored.sop_instance_uid)


def _failure(
    ident: _Identity, reason: FailureReason, text: str, sop_instance_uid: str | None = None
) -> InstanceFailure:
    """A failure item, with the part's UIDs when its header can be read."""
    uid = ident.sop_instance_uid or sop_instance_uid
    return InstanceFailure(ident.sop_class_uid if uid else None, uid, reason, text)


def _identify(data: bytes, limit: int) -> _Identity:
    """The UIDs the response and the study check need, read from the header only.

    Bytes the store would refuse unread (junk, a deflate bomb inflating past
    ``limit``) are not read here either.
    """
    try:
        import pydicom

        screen_instance(data, max_inflated_bytes=limit)
        ds = pydicom.dcmread(
            io.BytesIO(data),
            force=True,
            stop_before_pixels=True,
            specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"],
        )
        values = [ds.get(k) for k in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID")]
    except Exception:  # unreadable: the store decides and says why
        return _Identity(None, None, None)
    uids = [str(v).strip("\0 ") if v is not None else "" for v in values]
    valid = [uid if _UID.fullmatch(uid) else None for uid in uids]
    return _Identity(valid[0], valid[1], valid[2])
