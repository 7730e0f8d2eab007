"""Date values (PS3.5 6.2 DA, DT) shifted by whole days, or replaced by dummies.

The Retain Longitudinal Temporal Information Modified Dates Option (PS3.15
E.3.6) shifts every date of a patient by the same number of days, so
intervals survive and calendar dates do not. Shifting by whole days leaves
times of day (TM, and the time part of DT) as they were. A value that cannot
be parsed cannot be shifted safely, so it becomes the dummy date instead of
leaking through.

>>> shift_da("20240229", 1)
'20240301'
>>> shift_dt("20231231235959.123456+0100", 2)
'20240102235959.123456+0100'
>>> shift_dt("202312", 45)  # month precision stays month precision
'202401'
>>> shift_da("not a date", 3)
'19000101'
>>> replace_date_keep_time("DT", "20240115083000.5")
'19000101083000.5'
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = [
    "DUMMY_DA",
    "DUMMY_DT",
    "DUMMY_TM",
    "replace_date_keep_time",
    "shift_da",
    "shift_dt",
    "shift_value",
]

DUMMY_DA = "19000101"
DUMMY_DT = "19000101000000"
DUMMY_TM = "000000"

_DA = re.compile(r"(\d{4})\.?(\d{2})\.?(\d{2})\Z")  # YYYYMMDD, or ACR-NEMA YYYY.MM.DD
_DT = re.compile(r"(\d{4})(\d{2})?(\d{2})?(.*)\Z")
_TIME_PART = re.compile(r"(\d{2}){0,3}(\.\d{1,6})?([+-]\d{4})?\Z")  # HHMMSS.FFFFFF&ZZXX


def shift_da(value: str, days: int) -> str:
    """A DA value moved by ``days``; the dummy date when it is not a date."""
    text = value.strip()
    if not text:
        return text
    match = _DA.match(text)
    if match is None:
        return DUMMY_DA
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return DUMMY_DA


def shift_dt(value: str, days: int) -> str:
    """A DT value whose date part moved by ``days``, same precision, time part unchanged."""
    text = value.strip()
    if not text:
        return text
    match = _DT.match(text)
    if match is None or (match[3] is None and match[4]):
        return DUMMY_DT
    year, month, day, rest = match[1], match[2], match[3], match[4]
    if not _TIME_PART.match(rest):
        return DUMMY_DT
    try:
        moved = dt.date(int(year), int(month or 1), int(day or 1)) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return DUMMY_DT
    precision = 4 + (2 if month else 0) + (2 if day else 0)
    return moved.strftime("%Y%m%d")[:precision] + rest


def shift_value(vr: str, value: str, days: int) -> str:
    """Shift a DA or DT value; other VRs (TM) are unchanged by a whole-day shift."""
    if vr == "DA":
        return shift_da(value, days)
    if vr == "DT":
        return shift_dt(value, days)
    return value


def replace_date_keep_time(vr: str, value: str) -> str:
    """The dummy date in place of the date; a DT keeps its time of day and offset."""
    text = value.strip()
    if not text or vr != "DT":
        return text and DUMMY_DA
    match = _DT.match(text)
    rest = match[4] if match is not None and match[3] is not None else ""
    if not _TIME_PART.match(rest):
        rest = ""
    return DUMMY_DA + rest
