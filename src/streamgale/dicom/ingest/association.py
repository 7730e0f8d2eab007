"""One association of the storage SCP, served on its own thread with a blocking socket.

The life of an association (PS3.8 9.2 state machine, acceptor side, reduced
to what a C-STORE/C-ECHO SCP meets):

========================  ==========================  =========================
state                     PDU received                action, next state
========================  ==========================  =========================
AWAITING_ASSOCIATE_RQ     A-ASSOCIATE-RQ              negotiate; ESTABLISHED or
                                                      REJECTED
ESTABLISHED               P-DATA-TF                   C-STORE / C-ECHO;
                                                      ESTABLISHED
ESTABLISHED               A-RELEASE-RQ                completion signal, then
                                                      A-RELEASE-RP; RELEASED
ESTABLISHED               A-ABORT, connection closed  ABORTED
any                       anything else, bad PDU      A-ABORT; ABORTED
========================  ==========================  =========================

Every C-STORE is answered only after :meth:`InstanceStore.put` returned, so
a success status always means durably stored and announced in the log. The
completion signal goes to
the log before the A-RELEASE-RP, so a sender that sees its release
confirmed knows its instances are announced as complete. An aborted
association publishes no completion signal: what it sent is stored and
announced instance by instance, and study assembly's quiet timer closes it.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from streamgale.dicom.ingest import dimse
from streamgale.dicom.ingest.acse import Acceptance, Negotiated, negotiate
from streamgale.dicom.ingest.arrival import Arrival
from streamgale.dicom.ingest.dimse import CommandField, Status
from streamgale.dicom.ingest.dul import (
    PduReader,
    PduType,
    ProtocolError,
    encode_abort,
    encode_p_data,
    encode_release_rp,
    set_socket_timeout,
)
from streamgale.dicom.ingest.store import InstanceStore, SopClassMismatchError
from streamgale.errors import DicomError, InvalidInstanceError, LogError

__all__ = ["AssociationState", "serve_association"]

logger = logging.getLogger("streamgale.dicom.scp")


class AssociationState(enum.Enum):
    """Where an association is, and how it ended."""

    AWAITING_ASSOCIATE_RQ = "awaiting-associate-rq"
    ESTABLISHED = "established"
    REJECTED = "rejected"
    RELEASED = "released"
    ABORTED = "aborted"


class _Reassembly:
    """The DIMSE message being received (PS3.7 8.1): its command set and its dataset.

    Dataset fragments are received straight into one buffer that is reused
    from message to message, so storing an instance costs no allocation and
    no copy on the way in.
    """

    _INITIAL = 1024 * 1024
    _KEEP_AT_MOST = 64 * 1024 * 1024  # a buffer grown past this is dropped after use

    def __init__(self) -> None:
        self.command = bytearray()
        self.decoded: dimse.Command | None = None
        self.arrival: Arrival | None = None
        self._buffer = bytearray(self._INITIAL)
        self._size = 0

    def reserve(self, size: int) -> memoryview:
        """The next ``size`` bytes of the dataset buffer, to receive a fragment into."""
        need = self._size + size
        if need > len(self._buffer):
            # A new buffer rather than a resize: a view of the old one may still live.
            grown = bytearray(max(need, 2 * len(self._buffer)))
            grown[: self._size] = memoryview(self._buffer)[: self._size]
            self._buffer = grown
        view = memoryview(self._buffer)[self._size : need]
        self._size = need
        return view

    def dataset(self) -> memoryview:
        """The dataset received so far; valid until the next :meth:`reset`."""
        return memoryview(self._buffer)[: self._size]

    def reset(self) -> None:
        """Ready for the next message."""
        self.command = bytearray()
        self.decoded = None
        self.arrival = None
        self._size = 0
        if len(self._buffer) > self._KEEP_AT_MOST:
            self._buffer = bytearray(self._INITIAL)


@dataclass
class _Association:
    sock: socket.socket
    reader: PduReader
    store: InstanceStore
    negotiated: Negotiated
    stored: list[str] = field(default_factory=list)


def serve_association(
    sock: socket.socket,
    store: InstanceStore,
    acceptance: Acceptance,
    contexts: list[object],
    *,
    at_limit: Callable[[], bool],
    on_state: Callable[[AssociationState, str | None], None],
    idle_timeout: float | None = None,
) -> AssociationState:
    """Serve one connection from its A-ASSOCIATE-RQ to its end; return how it ended.

    ``at_limit`` is asked, once the request arrives, whether the SCP is
    already full; ``on_state`` hears each state change with the calling AE.
    The socket's timeout until the request is the caller's (the ARTIM
    timer); once established, ``idle_timeout`` (when given) replaces it.
    Never raises for anything the peer does; closes nothing (the caller
    owns the socket).
    """
    state = AssociationState.AWAITING_ASSOCIATE_RQ
    calling: str | None = None
    reader = PduReader(sock, acceptance.max_pdu)
    try:
        negotiated = _associate(reader, sock, acceptance, contexts, at_limit())
        if negotiated is None:
            return AssociationState.ABORTED
        calling = negotiated.calling_ae
        if negotiated.rejected is not None:
            logger.info("rejected association from %r: %s", calling, negotiated.rejected.name)
            state = AssociationState.REJECTED
            return state
        state = AssociationState.ESTABLISHED
        if idle_timeout is not None:
            set_socket_timeout(sock, idle_timeout)
        on_state(state, calling)
        association = _Association(sock, reader, store, negotiated)
        state = _serve(association)
        return state
    except ProtocolError as exc:
        logger.warning("aborting association from %r: %s", calling, exc)
        _send_quietly(sock, encode_abort(2, exc.reason))
        state = AssociationState.ABORTED
        return state
    except OSError as exc:  # reset, or silent past the network timeout
        logger.info("association from %r ended by the network: %s", calling, exc)
        if isinstance(exc, (BlockingIOError, TimeoutError)):
            _send_quietly(sock, encode_abort(2, 0))
        state = AssociationState.ABORTED
        return state
    finally:
        on_state(state, calling)


def _associate(
    reader: PduReader,
    sock: socket.socket,
    acceptance: Acceptance,
    contexts: list[object],
    at_limit: bool,
) -> Negotiated | None:
    header = reader.read_header()
    if header is None:
        return None
    kind, length = header
    if kind is not PduType.A_ASSOCIATE_RQ:
        raise ProtocolError(f"expected an A-ASSOCIATE-RQ, got {kind.name}", reason=2)
    negotiated = negotiate(reader.read_body(length), acceptance, contexts, at_limit=at_limit)
    sock.sendall(negotiated.reply)
    return negotiated


def _serve(assoc: _Association) -> AssociationState:
    message = _Reassembly()
    while True:
        header = assoc.reader.read_header()
        if header is None:
            return AssociationState.ABORTED
        kind, length = header
        if kind is PduType.P_DATA_TF:
            _on_p_data(assoc, message, length)
            continue
        assoc.reader.read_body(length)
        if kind is PduType.A_RELEASE_RQ:
            _release(assoc)
            return AssociationState.RELEASED
        if kind is PduType.A_ABORT:
            return AssociationState.ABORTED
        raise ProtocolError(f"unexpected {kind.name} on an established association", reason=2)


def _on_p_data(assoc: _Association, message: _Reassembly, length: int) -> None:
    remaining = length
    while remaining:
        pdv = assoc.reader.read_pdv_header(remaining)
        remaining -= 6 + pdv.size
        if pdv.context_id not in assoc.negotiated.contexts:
            raise ProtocolError(f"presentation context {pdv.context_id} was not accepted", reason=6)
        if pdv.is_command:
            message.command += assoc.reader.read_body(pdv.size)
            if pdv.is_last:
                message.decoded = dimse.decode_command(message.command)
                if not message.decoded.has_data_set:
                    _dispatch(assoc, message.decoded, pdv.context_id, None)
                    message.reset()
                elif message.decoded.command_field == CommandField.C_STORE_RQ:
                    transfer = assoc.negotiated.contexts[pdv.context_id][1]
                    message.arrival = Arrival(transfer, source_ae=assoc.negotiated.calling_ae)
            continue
        if message.decoded is None:
            raise ProtocolError("a dataset fragment arrived before its command set", reason=2)
        assoc.reader.read_into(message.reserve(pdv.size))
        if pdv.is_last:
            _dispatch(assoc, message.decoded, pdv.context_id, message.dataset(), message.arrival)
            message.reset()
        elif message.arrival is not None:
            message.arrival.feed(message.dataset())  # while the sender sends the rest


def _dispatch(
    assoc: _Association,
    command: dimse.Command,
    context_id: int,
    data: memoryview | None,
    arrival: Arrival | None = None,
) -> None:
    abstract, transfer = assoc.negotiated.contexts[context_id]
    field_ = command.command_field
    if field_ == CommandField.C_ECHO_RQ:
        reply = dimse.echo_response(message_id=command.message_id, sop_class_uid=abstract)
    elif field_ == CommandField.C_STORE_RQ and data is not None:
        reply = _c_store(assoc, command, transfer, data, arrival)
    else:
        reply = dimse.response(
            field_ | 0x8000,
            message_id=command.message_id,
            sop_class_uid=abstract,
            status=Status.UNRECOGNIZED_OPERATION,
            error_comment="this SCP supports C-STORE and C-ECHO only",
        )
    assoc.sock.sendall(encode_p_data(context_id, reply, command=True))


def _c_store(
    assoc: _Association,
    command: dimse.Command,
    transfer: str,
    data: memoryview,
    arrival: Arrival | None,
) -> bytes:
    sop_class = command.uid(dimse.AFFECTED_SOP_CLASS_UID)
    sop_instance = command.uid(dimse.AFFECTED_SOP_INSTANCE_UID)
    status, comment = _store(assoc, data, transfer, sop_class, arrival)
    return dimse.store_response(
        message_id=command.message_id,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_instance,
        status=status,
        error_comment=comment,
    )


def _store(
    assoc: _Association, data: memoryview, transfer: str, sop_class: str, arrival: Arrival | None
) -> tuple[int, str | None]:
    """Store and map the outcome to a C-STORE status (PS3.4 B.2.3)."""
    calling = assoc.negotiated.calling_ae
    try:
        stored = assoc.store.put(
            data,
            source="dimse",
            calling_ae=calling,
            transfer_syntax_uid=transfer,
            sop_class_uid=sop_class or None,
            arrival=arrival,
        )
    except SopClassMismatchError as exc:
        return Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS, exc.reason
    except InvalidInstanceError as exc:
        logger.info("refused an instance from %r: %s", calling, exc.reason)
        return Status.CANNOT_UNDERSTAND, exc.reason
    except Exception as exc:  # disk full, database error...: refuse, the sender retries
        logger.exception("could not store an instance from %r", calling)
        return Status.OUT_OF_RESOURCES, f"storage failed: {exc}"
    assoc.stored.append(stored.sop_instance_uid)
    return Status.SUCCESS, None


def _release(assoc: _Association) -> None:
    """Publish the completion signal, then confirm the release (PS3.8 7.2).

    An association that stored nothing (a C-ECHO, say) completes nothing.
    """
    try:
        if assoc.stored:
            assoc.store.signal_complete("association", assoc.negotiated.calling_ae, assoc.stored)
    except (OSError, LogError, DicomError):
        # The instances are stored and announced; only the explicit signal is lost,
        # and study assembly falls back on its quiet timer.
        logger.exception("could not publish the completion signal of an association")
    assoc.sock.sendall(encode_release_rp())


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(data)
