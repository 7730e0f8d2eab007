"""Where results go: PACS destinations reached by DIMSE C-STORE or by STOW-RS.

A destination is a frozen, validated configuration. :func:`sender_for`
turns one into a :data:`Sender`, the function a
:class:`~streamgale.dicom.delivery.queue.DeliveryQueue` calls with the Part-10
files of one queued item; it returns when the destination has stored them all
and raises :class:`~streamgale.errors.DeliveryError` otherwise.

>>> DimseDestination("pacs", "10.0.0.5", 104, "PACS")
DimseDestination(name='pacs', host='10.0.0.5', port=104, ae_title='PACS', calling_ae='STREAMGALE', timeout=30.0)
>>> StowDestination("archive", "ftp://nowhere")
Traceback (most recent call last):
...
streamgale.errors.ConfigError: destination 'archive': url must start with http:// or https://, got 'ftp://nowhere'
"""  # noqa: E501

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from streamgale.errors import ConfigError

__all__ = [
    "Destination",
    "DimseDestination",
    "Sender",
    "StowDestination",
    "sender_for",
]

Sender: TypeAlias = Callable[[Sequence[bytes]], None]
"""Delivers Part-10 files to one destination; raises DeliveryError on any failure."""

# Names become directory names of the queues, so they are restricted.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class DimseDestination:
    """A DICOM peer reached with C-STORE (PS3.4 B.2): host, port and called AE title.

    ``calling_ae`` is the AE title StreamGale presents; ``timeout`` bounds the
    connection, the association negotiation and each C-STORE response, in seconds.
    """

    name: str
    host: str
    port: int
    ae_title: str
    calling_ae: str = "STREAMGALE"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not self.host:
            raise _error(self.name, "host must not be empty")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise _error(self.name, f"port must be an integer, got {self.port!r}")
        if not 1 <= self.port <= 65535:
            raise _error(self.name, f"port must be 1 to 65535, got {self.port}")
        _check_ae_title(self.name, "ae_title", self.ae_title)
        _check_ae_title(self.name, "calling_ae", self.calling_ae)
        _check_timeout(self.name, self.timeout)


@dataclass(frozen=True)
class StowDestination:
    """A DICOMweb server reached with STOW-RS (PS3.18 10.5).

    ``url`` is the service root: instances are POSTed to ``{url}/studies``.
    """

    name: str
    url: str
    timeout: float = 30.0

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not self.url.startswith(("http://", "https://")):
            raise _error(self.name, f"url must start with http:// or https://, got {self.url!r}")
        _check_timeout(self.name, self.timeout)


Destination: TypeAlias = DimseDestination | StowDestination
"""Any configured destination."""


def sender_for(destination: Destination) -> Sender:
    """The function that delivers a list of Part-10 files to ``destination``."""
    if isinstance(destination, DimseDestination):
        from streamgale.dicom.delivery.cstore import c_store

        def send_dimse(instances: Sequence[bytes]) -> None:
            c_store(destination, instances)

        return send_dimse
    if isinstance(destination, StowDestination):
        from streamgale.dicom.web.client import StowClient
        from streamgale.errors import DeliveryError

        client = StowClient(destination.url, timeout=destination.timeout)

        def send_stow(instances: Sequence[bytes]) -> None:
            result = client.store(instances)
            if result.failed:
                reasons = "; ".join(
                    f"{f.sop_instance_uid}: 0x{f.reason:04X} {f.text}" for f in result.failed
                )
                raise DeliveryError(
                    f"destination {destination.name!r} refused {len(result.failed)} of "
                    f"{len(instances)} instances: {reasons}"
                )

        return send_stow
    raise ConfigError(f"unknown destination type {type(destination).__name__}")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"destination name {name!r} must be 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            key="name",
        )


def _check_ae_title(name: str, key: str, value: str) -> None:
    # AE VR (PS3.5 6.2): at most 16 characters, no backslash or control
    # characters, and not only spaces.
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > 16
        or any(c == "\\" or not c.isprintable() for c in value)
    ):
        raise _error(
            name, f"{key} must be 1 to 16 printable characters without '\\', got {value!r}"
        )


def _check_timeout(name: str, timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise _error(name, f"timeout must be a positive number of seconds, got {timeout!r}")


def _error(name: str, message: str) -> ConfigError:
    return ConfigError(f"destination {name!r}: {message}")
