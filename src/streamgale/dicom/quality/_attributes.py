"""Read attributes for validation: every failure becomes a reason naming the keyword and tag.

The reasons are what an operator reads in ``streamgale quarantine list``, so
each names the attribute by keyword and tag, says what was found and what was
expected, e.g. ``Rows (0028,0010) is 0; expected 8..8192``.
"""

from __future__ import annotations

import re
from collections.abc import Sized
from typing import TYPE_CHECKING, Any

from streamgale.errors import InvalidInstanceError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "describe",
    "is_fatal",
    "one_line",
    "read",
    "require",
    "require_int",
    "require_uid",
    "uid_syntax_error",
]

_UID_PATTERN = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_UID_MAX_LENGTH = 64  # PS3.5 9.1
_MISSING = object()


def describe(keyword: str) -> str:
    """``Keyword (gggg,eeee)``, the way the reasons name an attribute.

    >>> describe("PatientID")
    'PatientID (0010,0020)'
    """
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return keyword if tag is None else f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def read(ds: Dataset, keyword: str) -> Any:
    """The value of ``keyword``, None when absent; a value pydicom cannot parse is a reason."""
    try:
        return ds.get(keyword, None)
    except Exception as exc:  # pydicom raises many types for a malformed value
        raise InvalidInstanceError(f"{describe(keyword)} cannot be read: {one_line(exc)}") from exc


def require(ds: Dataset, keyword: str) -> Any:
    """The value of a Type 1 attribute: present and not empty (PS3.5 7.4.1)."""
    if keyword not in ds:
        raise InvalidInstanceError(f"missing required attribute {describe(keyword)}")
    value = read(ds, keyword)
    if value is None or (isinstance(value, Sized) and len(value) == 0):
        raise InvalidInstanceError(f"required attribute {describe(keyword)} is empty")
    return value


def require_int(ds: Dataset, keyword: str, low: int, high: int) -> int:
    """A Type 1 integer attribute within ``low..high``."""
    value = require(ds, keyword)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInstanceError(
            f"{describe(keyword)} is {value!r}; expected a whole number in {low}..{high}"
        ) from None
    if not low <= number <= high:
        raise InvalidInstanceError(f"{describe(keyword)} is {number}; expected {low}..{high}")
    return number


def require_uid(ds: Dataset, keyword: str) -> str:
    """A Type 1 UID attribute with valid syntax (PS3.5 9.1)."""
    value = str(require(ds, keyword))
    problem = uid_syntax_error(value)
    if problem:
        raise InvalidInstanceError(
            f"{describe(keyword)} {value[:80]!r} is not a valid UID: {problem}"
        )
    return value


def uid_syntax_error(value: str) -> str | None:
    """Why ``value`` is not a UID by PS3.5 9.1, or None when it is one.

    >>> uid_syntax_error("1.2.840.10008.5.1.4.1.1.2") is None
    True
    >>> uid_syntax_error("1.2.03")
    'components are digits separated by dots, with no leading zeros (PS3.5 9.1)'
    """
    if len(value) > _UID_MAX_LENGTH:
        return f"it is {len(value)} characters long; at most {_UID_MAX_LENGTH} are allowed"
    if not _UID_PATTERN.fullmatch(value):
        return "components are digits separated by dots, with no leading zeros (PS3.5 9.1)"
    return None


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` must propagate: an interrupt or exit, not a failure of this input.

    Native codec plugins can raise a ``BaseException`` that is not an
    ``Exception`` (pyo3's ``PanicException``); that is still bad input.
    """
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, as a reason needs it."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
