"""The DICOM Upper Layer's PDUs as the storage SCP reads and writes them (PS3.8 9.3).

Only what an acceptor of C-STORE and C-ECHO needs, on a blocking socket:
read PDU headers and presentation data values (:class:`PduReader`), and
encode P-DATA-TF, A-RELEASE-RP, A-ASSOCIATE-RJ and A-ABORT. A-ASSOCIATE-RQ
and -AC go through pynetdicom's codecs (:mod:`~streamgale.dicom.ingest.acse`).

>>> import socket
>>> left, right = socket.socketpair()
>>> left.sendall(encode_p_data(1, b"\\x01\\x02", command=True))
>>> reader = PduReader(right, max_pdu=16384)
>>> reader.read_header()
(<PduType.P_DATA_TF: 4>, 8)
>>> reader.read_pdv_header(8)
PdvHeader(size=2, context_id=1, is_command=True, is_last=True)
>>> left.close(); right.close()
"""

from __future__ import annotations

import enum
import socket
import struct
from dataclasses import dataclass

from streamgale.errors import DicomError

__all__ = [
    "PduReader",
    "PduType",
    "PdvHeader",
    "ProtocolError",
    "encode_abort",
    "encode_associate_rj",
    "encode_p_data",
    "encode_release_rp",
    "set_socket_timeout",
]

_HEADER = struct.Struct(">BxL")
_PDV_HEADER = struct.Struct(">LBB")
# Association control PDUs are small; an A-ASSOCIATE-RQ with 128 contexts of
# many transfer syntaxes stays far below this.
_MAX_CONTROL_PDU = 1024 * 1024


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


@dataclass(frozen=True)
class PdvHeader:
    """A presentation data value item header (PS3.8 9.3.5.1, Annex E.2)."""

    size: int
    """Length of the fragment that follows (the item length less its 2 header bytes)."""
    context_id: int
    is_command: bool
    is_last: bool


class PduReader:
    """Reads PDUs from a blocking socket, fragments straight into the caller's buffers.

    A P-DATA-TF is consumed item by item (:meth:`read_pdv_header`, then
    :meth:`read_into`), so a dataset is received directly into the buffer it
    is stored from: no per-PDU allocation, no copy to reassemble it.
    """

    def __init__(self, sock: socket.socket, max_pdu: int) -> None:
        self._sock = sock
        self._max_pdu = max_pdu
        self._header = bytearray(_HEADER.size)
        self._header_view = memoryview(self._header)

    def read_header(self) -> tuple[PduType, int] | None:
        """The type and length of the next PDU; None if the peer closed cleanly before it.

        Raises :class:`ProtocolError` for an unknown type or a P-DATA-TF longer
        than the maximum length offered (0: no limit).
        """
        if not self._fill(self._header_view, eof_ok=True):
            return None
        kind, length = _HEADER.unpack(self._header)
        try:
            pdu_type = PduType(kind)
        except ValueError:
            raise ProtocolError(f"unrecognized PDU type 0x{kind:02X}", reason=1) from None
        too_long = pdu_type is PduType.P_DATA_TF and self._max_pdu and length > self._max_pdu
        if too_long or (length > _MAX_CONTROL_PDU and pdu_type is not PduType.P_DATA_TF):
            msg = f"{pdu_type.name} of {length} bytes exceeds the maximum {self._max_pdu}"
            raise ProtocolError(msg, reason=6)
        return pdu_type, length

    def read_body(self, length: int) -> memoryview:
        """The body of a non-P-DATA PDU (small: association control)."""
        view = memoryview(bytearray(length))
        self._fill(view, eof_ok=False)
        return view

    def read_pdv_header(self, remaining: int) -> PdvHeader:
        """The next PDV item header of a P-DATA-TF with ``remaining`` bytes left in it."""
        if remaining < _PDV_HEADER.size:
            raise ProtocolError("a P-DATA-TF ends inside a PDV item header", reason=6)
        self._fill(self._header_view, eof_ok=False)
        length, context_id, control = _PDV_HEADER.unpack(self._header)
        if length < 2 or length + 4 > remaining:
            raise ProtocolError(f"a PDV item claims {length} bytes past its PDU", reason=6)
        return PdvHeader(length - 2, context_id, bool(control & 0x01), bool(control & 0x02))

    def read_into(self, view: memoryview) -> None:
        """Fill ``view`` exactly from the socket."""
        self._fill(view, eof_ok=False)

    def _fill(self, view: memoryview, *, eof_ok: bool) -> bool:
        got = 0
        size = len(view)
        while got < size:
            count = self._sock.recv_into(view[got:])
            if count == 0:
                if eof_ok and got == 0:
                    return False
                raise ProtocolError(f"the peer closed the connection inside a PDU ({got}/{size})")
            got += count
        return True


def set_socket_timeout(sock: socket.socket, timeout: float) -> None:
    """Kernel-side receive and send timeouts (SO_RCVTIMEO / SO_SNDTIMEO) on a blocking socket.

    Unlike :meth:`socket.socket.settimeout`, which would add a ``poll`` system
    call before every read, an expired one surfaces from ``recv`` as
    ``OSError`` (EAGAIN).
    """
    seconds = int(timeout)
    timeval = struct.pack("ll", seconds, int((timeout - seconds) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


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
