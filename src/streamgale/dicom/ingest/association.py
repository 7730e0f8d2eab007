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
a success status always means durably stored. The completion signal goes to
the log before the A-RELEASE-RP, so a sender that sees its release
confirmed knows its instances are announced as complete. An aborted
association publishes no completion signal: what it sent is stored and
announced instance by instance, and study assembly's quiet timer closes it.
"""

from __future__ import annotations

import enum
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from streamgale.dicom.ingest import dimse
from streamgale.dicom.ingest.acse import Acceptance, Negotiated, negotiate
from streamgale.dicom.ingest.dimse import CommandField, Status
from streamgale.dicom.ingest.dul import (
    PduType,
    ProtocolError,
    encode_abort,
    encode_p_data,
    encode_release_rp,
    iter_pdvs,
    read_pdu,
)
from streamgale.dicom.ingest.store import InstanceStore, SopClassMismatchError
from streamgale.errors import DicomError, InvalidInstanceError, LogError

__all__ = ["AssociationState", "serve_association"]

logger = logging.getLogger("streamgale.dicom.scp")

Data = bytes | memoryview


class AssociationState(enum.Enum):
    """Where an association is, and how it ended."""

    AWAITING_ASSOCIATE_RQ = "awaiting-associate-rq"
    ESTABLISHED = "established"
    REJECTED = "rejected"
    RELEASED = "released"
    ABORTED = "aborted"


@dataclass
class _Message:
    """A DIMSE message being reassembled from PDV fragments (PS3.7 8.1)."""

    command: bytearray = field(default_factory=bytearray)
    fragments: list[memoryview] = field(default_factory=list)
    decoded: dimse.Command | None = None


@dataclass
class _Association:
    sock: socket.socket
    store: InstanceStore
    negotiated: Negotiated
    max_pdu: int
    stored: list[str] = field(default_factory=list)


def serve_association(
    sock: socket.socket,
    store: InstanceStore,
    acceptance: Acceptance,
    contexts: list[object],
    *,
    at_limit: Callable[[], bool],
    on_state: Callable[[AssociationState, str | None], None],
) -> AssociationState:
    """Serve one connection from its A-ASSOCIATE-RQ to its end; return how it ended.

    ``at_limit`` is asked, once the request arrives, whether the SCP is
    already full; ``on_state`` hears each state change with the calling AE.
    Never raises for anything the peer does; closes nothing (the caller
    owns the socket).
    """
    state = AssociationState.AWAITING_ASSOCIATE_RQ
    calling: str | None = None
    try:
        negotiated = _associate(sock, acceptance, contexts, at_limit())
        if negotiated is None:
            return AssociationState.ABORTED
        calling = negotiated.calling_ae
        if negotiated.rejected is not None:
            logger.info("rejected association from %r: %s", calling, negotiated.rejected.name)
            state = AssociationState.REJECTED
            return state
        state = AssociationState.ESTABLISHED
        on_state(state, calling)
        association = _Association(sock, store, negotiated, acceptance.max_pdu)
        state = _serve(association)
        return state
    except ProtocolError as exc:
        logger.warning("aborting association from %r: %s", calling, exc)
        _send_quietly(sock, encode_abort(2, exc.reason))
        state = AssociationState.ABORTED
        return state
    except OSError as exc:  # reset, timeout: the peer is gone
        logger.info("association from %r ended by the network: %s", calling, exc)
        state = AssociationState.ABORTED
        return state
    finally:
        on_state(state, calling)


def _associate(
    sock: socket.socket, acceptance: Acceptance, contexts: list[object], at_limit: bool
) -> Negotiated | None:
    first = read_pdu(sock, 0)
    if first is None:
        return None
    kind, body = first
    if kind is not PduType.A_ASSOCIATE_RQ:
        raise ProtocolError(f"expected an A-ASSOCIATE-RQ, got {kind.name}", reason=2)
    negotiated = negotiate(body, acceptance, contexts, at_limit=at_limit)
    sock.sendall(negotiated.reply)
    return negotiated


def _serve(assoc: _Association) -> AssociationState:
    message = _Message()
    while True:
        got = read_pdu(assoc.sock, assoc.max_pdu)
        if got is None:
            return AssociationState.ABORTED
        kind, body = got
        if kind is PduType.P_DATA_TF:
            message = _on_p_data(assoc, message, body)
        elif kind is PduType.A_RELEASE_RQ:
            _release(assoc)
            return AssociationState.RELEASED
        elif kind is PduType.A_ABORT:
            return AssociationState.ABORTED
        else:
            raise ProtocolError(f"unexpected {kind.name} on an established association", reason=2)


def _on_p_data(assoc: _Association, message: _Message, body: memoryview) -> _Message:
    for context_id, is_command, last, fragment in iter_pdvs(body):
        if context_id not in assoc.negotiated.contexts:
            raise ProtocolError(f"presentation context {context_id} was not accepted", reason=6)
        if is_command:
            message.command += fragment
            if last:
                message.decoded = dimse.decode_command(message.command)
                if not message.decoded.has_data_set:
                    _dispatch(assoc, message.decoded, context_id, None)
                    message = _Message()
            continue
        if message.decoded is None:
            raise ProtocolError("a dataset fragment arrived before its command set", reason=2)
        if last:
            # Each PDU has its own buffer, so fragments stay valid until joined once;
            # a dataset that came in one fragment is used in place.
            data: Data = b"".join([*message.fragments, fragment]) if message.fragments else fragment
            _dispatch(assoc, message.decoded, context_id, data)
            message = _Message()
        else:
            message.fragments.append(fragment)
    return message


def _dispatch(assoc: _Association, command: dimse.Command, context_id: int, data: Data | None) -> None:
    abstract, transfer = assoc.negotiated.contexts[context_id]
    field_ = command.command_field
    if field_ == CommandField.C_ECHO_RQ:
        reply = dimse.echo_response(message_id=command.message_id, sop_class_uid=abstract)
    elif field_ == CommandField.C_STORE_RQ and data is not None:
        reply = _c_store(assoc, command, transfer, data)
    else:
        reply = dimse.response(
            field_ | 0x8000,
            message_id=command.message_id,
            sop_class_uid=abstract,
            status=Status.UNRECOGNIZED_OPERATION,
            error_comment="this SCP supports C-STORE and C-ECHO only",
        )
    assoc.sock.sendall(encode_p_data(context_id, reply, command=True))


def _c_store(assoc: _Association, command: dimse.Command, transfer: str, data: Data) -> bytes:
    sop_class = command.uid(dimse.AFFECTED_SOP_CLASS_UID)
    sop_instance = command.uid(dimse.AFFECTED_SOP_INSTANCE_UID)
    status, comment = _store(assoc, data, transfer, sop_class)
    return dimse.store_response(
        message_id=command.message_id,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_instance,
        status=status,
        error_comment=comment,
    )


def _store(assoc: _Association, data: Data, transfer: str, sop_class: str) -> tuple[int, str | None]:
    """Store and map the outcome to a C-STORE status (PS3.4 B.2.3)."""
    calling = assoc.negotiated.calling_ae
    try:
        stored = assoc.store.put(
            data,
            source="dimse",
            calling_ae=calling,
            transfer_syntax_uid=transfer,
            sop_class_uid=sop_class or None,
        )
    except SopClassMismatchError as exc:
        return Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS, exc.reason
    except InvalidInstanceError as exc:
        logger.info("refused an instance from %r: %s", calling, exc.reason)
        return Status.CANNOT_UNDERSTAND, exc.reason
    except (OSError, LogError, DicomError) as exc:
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
    try:
        sock.sendall(data)
    except OSError:
        pass
