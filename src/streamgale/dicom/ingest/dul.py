"""The DICOM Upper Layer's PDUs as the storage SCP reads and writes them (PS3.8 9.3).

Only what an acceptor of C-STORE and C-ECHO needs, on a blocking socket:
read one PDU, split a P-DATA-TF into its presentation data values, and
encode P-DATA-TF, A-RELEASE-RP, A-ASSOCIATE-RJ and A-ABORT. A-ASSOCIATE-RQ
and -AC go through pynetdicom's codecs (:mod:`~streamgale.dicom.ingest.acse`).

Reading a PDU is one ``recv_into`` loop into a buffer of its announced size,
so a 512 KiB instance costs a handful of system calls, not one per 4 KiB.

>>> pdu = encode_p_data(1, b"\\x01\\x02", command=True)
>>> pdu[:6], list(iter_pdvs(memoryview(pdu)[6:]))[0][:3]
(b'\\x04\\x00\\x00\\x00\\x00\\x08', (1, True, True))
"""

from __future__ import annotations

import enum
import socket
import struct
from collections.abc import Iterator

from streamgale.errors import DicomError

__all__ = [
    "PduType",
    "ProtocolError",
    "encode_abort",
    "encode_associate_rj",
    "encode_p_data",
    "encode_release_rp",
    "iter_pdvs",
    "read_pdu",
]

_HEADER = struct.Struct(">BxL")
_PDV_HEADER = struct.Struct(">LBB")


class PduType(enum.IntEnum):
    """PDU types (PS3.8 Table 9-11)."""

    A_ASSOCIATE_RQ = 0x01
    A_ASSOCIATE_AC = 0x02
    A_ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    A_RELEASE_RQ = 0x05
    A_RELEASE_RP = 0x06
    A_ABORT = 0x07


class ProtocolError(DicomError):
    """The peer broke the upper layer protocol; the association is aborted.

    ``reason`` is the A-ABORT provider reason to send (PS3.8 Table 9-26):
    0 not specified, 1 unrecognized PDU, 2 unexpected PDU, 6 invalid parameter.
    """

    def __init__(self, message: str, *, reason: int = 0) -> None:
        self.reason = reason
        super().__init__(message)


def read_pdu(sock: socket.socket, max_length: int) -> tuple[PduType, memoryview] | None:
    """Read one PDU: its type and its body (the bytes after the 6-byte header).

    Returns None when the peer closed the connection cleanly between PDUs.
    Raises :class:`ProtocolError` for an unknown type or a PDU longer than
    ``max_length`` (0: no limit), and ``OSError`` (including a timeout)
    from the socket.
    """
    header = _recv_exactly(sock, _HEADER.size)
    if header is None:
        return None
    kind, length = _HEADER.unpack(header)
    try:
        pdu_type = PduType(kind)
    except ValueError:
        raise ProtocolError(f"unrecognized PDU type 0x{kind:02X}", reason=1) from None
    # An A-ASSOCIATE-RQ may carry many contexts; bound it separately from P-DATA.
    limit = max_length + _HEADER.size if max_length and pdu_type is PduType.P_DATA_TF else 0
    if limit and length > limit or length > 64 * 1024 * 1024:
        msg = f"{pdu_type.name} of {length} bytes exceeds the negotiated maximum {max_length}"
        raise ProtocolError(msg, reason=6)
    body = _recv_exactly(sock, length) if length else memoryview(b"")
    if body is None:
        raise ProtocolError(f"the peer closed the connection after a {pdu_type.name} header")
    return pdu_type, body


def iter_pdvs(body: memoryview) -> Iterator[tuple[int, bool, bool, memoryview]]:
    """The presentation data values of a P-DATA-TF body (PS3.8 9.3.5.1, E.2).

    Yields (presentation context ID, is command, is last fragment, fragment).
    """
    position = 0
    end = len(body)
    while position < end:
        if end - position < _PDV_HEADER.size:
            raise ProtocolError("a P-DATA-TF ends inside a PDV item header", reason=6)
        length, context_id, control = _PDV_HEADER.unpack_from(body, position)
        if length < 2 or position + 4 + length > end:
            raise ProtocolError(f"a PDV item claims {length} bytes past its PDU", reason=6)
        start = position + _PDV_HEADER.size
        stop = position + 4 + length
        yield context_id, bool(control & 0x01), bool(control & 0x02), body[start:stop]
        position = stop


def encode_p_data(context_id: int, fragment: bytes, *, command: bool, last: bool = True) -> bytes:
    """A P-DATA-TF PDU carrying one PDV (a whole command set fits in any PDU)."""
    control = (0x01 if command else 0x00) | (0x02 if last else 0x00)
    pdv = _PDV_HEADER.pack(len(fragment) + 2, context_id, control) + fragment
    return _HEADER.pack(PduType.P_DATA_TF, len(pdv)) + pdv


def encode_release_rp() -> bytes:
    """An A-RELEASE-RP PDU (PS3.8 9.3.7)."""
    return _HEADER.pack(PduType.A_RELEASE_RP, 4) + bytes(4)


def encode_abort(source: int = 2, reason: int = 0) -> bytes:
    """An A-ABORT PDU (PS3.8 9.3.8); source 2 is the service provider (the upper layer)."""
    return _HEADER.pack(PduType.A_ABORT, 4) + bytes([0, 0, source, reason])


def encode_associate_rj(result: int, source: int, reason: int) -> bytes:
    """An A-ASSOCIATE-RJ PDU (PS3.8 9.3.4): result 1 permanent / 2 transient."""
    return _HEADER.pack(PduType.A_ASSOCIATE_RJ, 4) + bytes([0, result, source, reason])


def _recv_exactly(sock: socket.socket, size: int) -> memoryview | None:
    """``size`` bytes from ``sock``; None if it closed before the first one."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = sock.recv_into(view[got:])
        if count == 0:
            if got == 0:
                return None
            raise ProtocolError(f"the peer closed the connection inside a PDU ({got}/{size})")
        got += count
    return view
