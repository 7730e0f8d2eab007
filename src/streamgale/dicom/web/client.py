"""A STOW-RS client (PS3.18 10.5): send DICOM instances to a DICOMweb server.

Standard library only (:mod:`urllib.request`); the body is built by
:func:`~streamgale.dicom.web.multipart.build_related`. The server's answer
is read as a :class:`~streamgale.dicom.web.response.StoreInstancesResponse`:

* 200 and 202 return a :class:`StowResult` (202: some instances failed; they
  are in :attr:`StowResult.failed` with their Failure Reason and text);
* anything else, 409 (nothing stored) included, and a server that cannot be
  reached raise :class:`~streamgale.errors.DeliveryError` whose message holds
  the URL, the HTTP status and the start of the response body.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamgale.dicom.web.multipart import build_related
from streamgale.dicom.web.response import (
    InstanceFailure,
    InstanceReference,
    StoreInstancesResponse,
)
from streamgale.errors import ConfigError, DeliveryError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["StowClient", "StowResult", "instance_bytes"]

_EXCERPT = 300


@dataclass(frozen=True)
class StowResult:
    """The outcome of one STOW-RS request."""

    status: int
    """The HTTP status: 200 (all stored) or 202 (some failed)."""
    stored: tuple[InstanceReference, ...]
    failed: tuple[InstanceFailure, ...]

    @property
    def stored_uids(self) -> list[str]:
        """SOP Instance UIDs the server stored, in response order."""
        return [ref.sop_instance_uid for ref in self.stored]


class StowClient:
    """Sends instances to ``{base_url}/studies`` (or ``/studies/{uid}``) with STOW-RS.

    ``base_url`` is the DICOMweb service root, e.g. ``http://pacs:8042/dicom-web``.
    ``headers`` are added to every request (an ``Authorization`` header, say).
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must be an http:// or https:// URL, got {base_url!r}", key="url"
            )
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout!r}", key="timeout")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})

    def store(
        self,
        instances: Iterable[bytes | Dataset],
        study_uid: str | None = None,
    ) -> StowResult:
        """Send ``instances`` (Part 10 bytes or pydicom Datasets) in one request.

        With ``study_uid`` the request goes to the study's URL, and the server
        refuses instances of other studies.
        """
        parts = [instance_bytes(instance) for instance in instances]
        if not parts:
            raise ValueError("store() needs at least one instance")
        content_type, body = build_related(parts)
        url = f"{self.base_url}/studies" + (f"/{study_uid}" if study_uid else "")
        headers = {
            **self.headers,
            "Content-Type": content_type,
            "Accept": "application/dicom+json",
        }
        status, payload = self._post(url, body, headers)
        try:
            response = StoreInstancesResponse.from_json(json.loads(payload or b"{}"))
        except ValueError as exc:
            raise DeliveryError(
                f"STOW-RS to {url} answered {status} with a body that is not a DICOM JSON "
                f"Store Instances Response ({exc}): {_excerpt(payload)}"
            ) from exc
        return StowResult(status, response.referenced, response.failed)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                status, payload = int(answer.status), answer.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            raise DeliveryError(
                f"STOW-RS to {url} failed with HTTP {exc.code}: {_describe(payload)}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(
                f"cannot reach the STOW-RS server at {url}: {reason}; check that it runs "
                "and that the URL is right (the result stays queued)"
            ) from exc
        if status not in (200, 202):
            raise DeliveryError(f"STOW-RS to {url} answered HTTP {status}: {_excerpt(payload)}")
        return status, payload


def instance_bytes(instance: bytes | Dataset) -> bytes:
    """A DICOM Part 10 file of ``instance``: bytes pass through, Datasets are written."""
    if isinstance(instance, bytes | bytearray | memoryview):
        return bytes(instance)
    from streamgale.dicom._deps import require_dicom

    require_dicom("sending pydicom Datasets")
    import pydicom

    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, instance, enforce_file_format=True)
    return buffer.getvalue()


def _describe(payload: bytes) -> str:
    """The failures of a Store Instances Response, or the start of a non-DICOM body."""
    try:
        response = StoreInstancesResponse.from_json(json.loads(payload))
    except ValueError:
        return _excerpt(payload)
    if not response.failed:
        return _excerpt(payload)
    reasons = "; ".join(
        f"{failure.sop_instance_uid or 'unreadable part'}: "
        f"0x{failure.reason:04X} {failure.text}".rstrip()
        for failure in response.failed[:5]
    )
    more = len(response.failed) - 5
    return f"{len(response.failed)} failed ({reasons}{f'; {more} more' if more > 0 else ''})"


def _excerpt(payload: Any) -> str:
    text = bytes(payload or b"").decode("utf-8", "replace")
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."
