"""DIMSE command sets for C-STORE and C-ECHO, and the statuses the SCP answers with.

A command set is group 0000 encoded Implicit VR Little Endian (PS3.7 6.3.1,
E.1). The SCP reads the few elements it needs and writes its responses
directly with :mod:`struct`: no dataset object is built per message.

>>> rsp = store_response(
...     message_id=7, sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
...     sop_instance_uid="1.2.3", status=Status.SUCCESS)
>>> command = decode_command(rsp)
>>> command.command_field == CommandField.C_STORE_RSP, command.uid(AFFECTED_SOP_INSTANCE_UID)
(True, '1.2.3')
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from streamgale.dicom.ingest.dul import ProtocolError

__all__ = [
    "AFFECTED_SOP_CLASS_UID",
    "AFFECTED_SOP_INSTANCE_UID",
    "Command",
    "CommandField",
    "Status",
    "decode_command",
    "echo_response",
    "response",
    "store_response",
]

COMMAND_GROUP_LENGTH = 0x00000000
AFFECTED_SOP_CLASS_UID = 0x00000002
COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
MESSAGE_ID_BEING_RESPONDED_TO = 0x00000120
COMMAND_DATA_SET_TYPE = 0x00000800
STATUS = 0x00000900
ERROR_COMMENT = 0x00000902
AFFECTED_SOP_INSTANCE_UID = 0x00001000

NO_DATA_SET = 0x0101
"""Command Data Set Type (0000,0800) value meaning "no dataset follows"."""

_ELEMENT = struct.Struct("<HHL")
_US = struct.Struct("<H")
_UL = struct.Struct("<L")


class CommandField(enum.IntEnum):
    """Command Field (0000,0100) values (PS3.7 Annex E)."""

    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030


class Status(enum.IntEnum):
    """Status (0000,0900) values the storage SCP sends (PS3.4 B.2.3, PS3.7 C)."""

    SUCCESS = 0x0000
    OUT_OF_RESOURCES = 0xA700
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    UNRECOGNIZED_OPERATION = 0x0211


@dataclass(frozen=True)
class Command:
    """A decoded command set: raw element values by tag."""

    elements: dict[int, bytes]

    @property
    def command_field(self) -> int:
        """Command Field (0000,0100)."""
        return self.us(COMMAND_FIELD)

    @property
    def message_id(self) -> int:
        """Message ID (0000,0110)."""
        return self.us(MESSAGE_ID)

    @property
    def has_data_set(self) -> bool:
        """Whether a dataset follows (Command Data Set Type other than 0x0101)."""
        return self.us(COMMAND_DATA_SET_TYPE) != NO_DATA_SET

    def us(self, tag: int) -> int:
        """An unsigned short element; :class:`ProtocolError` if absent or malformed."""
        value = self.elements.get(tag)
        if value is None or len(value) != 2:
            raise ProtocolError(
                f"the command set lacks a valid ({tag >> 16:04X},{tag & 0xFFFF:04X})"
            )
        return int(_US.unpack(value)[0])

    def uid(self, tag: int) -> str:
        """A UI element without its padding; empty if absent."""
        return self.elements.get(tag, b"").rstrip(b"\0 ").decode("ascii", "replace")


def decode_command(data: bytes | bytearray | memoryview) -> Command:
    """Split an Implicit VR Little Endian command set into its elements."""
    view = memoryview(data)
    elements: dict[int, bytes] = {}
    position = 0
    while position + _ELEMENT.size <= len(view):
        group, element, length = _ELEMENT.unpack_from(view, position)
        position += _ELEMENT.size
        if group != 0 or position + length > len(view):
            raise ProtocolError("the command set holds an element outside group 0000", reason=6)
        elements[element] = bytes(view[position : position + length])
        position += length
    if position != len(view):
        raise ProtocolError("the command set ends inside an element header", reason=6)
    return Command(elements)


def store_response(
    *,
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    status: int,
    error_comment: str | None = None,
) -> bytes:
    """A C-STORE-RSP command set (PS3.7 9.3.1.2)."""
    return response(
        CommandField.C_STORE_RSP,
        message_id=message_id,
        sop_class_uid=sop_class_uid,
        sop_instance_uid=sop_instance_uid,
        status=status,
        error_comment=error_comment,
    )


def echo_response(*, message_id: int, sop_class_uid: str) -> bytes:
    """A successful C-ECHO-RSP command set (PS3.7 9.3.5.2)."""
    return response(
        CommandField.C_ECHO_RSP,
        message_id=message_id,
        sop_class_uid=sop_class_uid,
        status=Status.SUCCESS,
    )


def response(
    command_field: int,
    *,
    message_id: int,
    sop_class_uid: str,
    status: int,
    sop_instance_uid: str | None = None,
    error_comment: str | None = None,
) -> bytes:
    """Any response command set, elements in ascending tag order (PS3.5 7.1)."""
    parts = [
        _element(AFFECTED_SOP_CLASS_UID, _ui(sop_class_uid)),
        _element(COMMAND_FIELD, _US.pack(command_field)),
        _element(MESSAGE_ID_BEING_RESPONDED_TO, _US.pack(message_id)),
        _element(COMMAND_DATA_SET_TYPE, _US.pack(NO_DATA_SET)),
        _element(STATUS, _US.pack(status)),
    ]
    if error_comment:
        parts.append(_element(ERROR_COMMENT, _lo(error_comment)))
    if sop_instance_uid:
        parts.append(_element(AFFECTED_SOP_INSTANCE_UID, _ui(sop_instance_uid)))
    body = b"".join(parts)
    return _element(COMMAND_GROUP_LENGTH, _UL.pack(len(body))) + body


def _element(tag: int, value: bytes) -> bytes:
    return _ELEMENT.pack(tag >> 16, tag & 0xFFFF, len(value)) + value


def _ui(uid: str) -> bytes:
    raw = uid.encode("ascii", "replace")
    return raw + b"\0" if len(raw) % 2 else raw


def _lo(text: str) -> bytes:
    # Error Comment (0000,0902) is LO: 64 characters at most, no backslash or control.
    clean = "".join(c if c.isprintable() and c != "\\" else " " for c in text)[:64]
    raw = clean.encode("ascii", "replace")
    return raw + b" " if len(raw) % 2 else raw
