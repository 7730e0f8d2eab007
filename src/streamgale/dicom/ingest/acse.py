"""Association negotiation for the storage SCP (PS3.8 7.1, PS3.7 D.3.3), using pynetdicom's codecs.

pynetdicom decodes the A-ASSOCIATE-RQ, negotiates presentation contexts
(:func:`pynetdicom.presentation.negotiate_as_acceptor`, with SCP/SCU role
selection) and encodes the A-ASSOCIATE-AC; this module decides whether to
accept at all (the called AE title, the calling AE title allow-list, the
association limit) and
what the SCP supports: every storage SOP class pynetdicom knows, plus
Verification, each in every transfer syntax pynetdicom knows (uncompressed,
deflated, JPEG, JPEG-LS, JPEG 2000, RLE, MPEG/HEVC, HTJ2K...). Ingest stores the
bytes as received, so it needs no codec for any of them.

Items the SCP does not support are left out of the A-ASSOCIATE-AC, which
PS3.7 D.3.3 defines as declining them: asynchronous operations (one
operation at a time), SOP class extended negotiation, user identity.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from streamgale.dicom.ingest.dul import encode_associate_rj

__all__ = [
    "Acceptance",
    "Negotiated",
    "RejectReason",
    "negotiate",
    "supported_contexts",
]

APPLICATION_CONTEXT_NAME = "1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"


class RejectReason(enum.Enum):
    """Why an association is rejected: (result, source, reason) of PS3.8 Table 9-21."""

    CALLING_AE_NOT_RECOGNIZED = (1, 1, 3)
    """Permanent, service user: the calling AE title is not on the allow-list."""
    CALLED_AE_NOT_RECOGNIZED = (1, 1, 7)
    """Permanent, service user: the request is addressed to another AE title."""
    APPLICATION_CONTEXT_NOT_SUPPORTED = (1, 1, 2)
    """Permanent, service user: not the DICOM application context."""
    LOCAL_LIMIT_EXCEEDED = (2, 3, 2)
    """Transient, service provider (presentation): too many associations at once."""


@dataclass(frozen=True)
class Acceptance:
    """What the SCP accepts: its AE title, limits and implementation identity.

    ``check_called_ae``: a request whose Called AE Title is not ``ae_title``
    is rejected (a sender configured for another node must not have its
    images silently taken here).
    """

    ae_title: str
    allowed_calling_aes: frozenset[str] | None
    max_pdu: int
    implementation_class_uid: str
    implementation_version_name: str
    check_called_ae: bool = True


@dataclass(frozen=True)
class Negotiated:
    """The outcome of an A-ASSOCIATE-RQ: the PDU to send, and the association if accepted.

    ``contexts`` maps each accepted presentation context ID to its (abstract
    syntax, transfer syntax); ``peer_max_pdu`` is the requestor's Maximum
    Length Received (0: unlimited). ``rejected`` is None when accepted.
    """

    reply: bytes
    calling_ae: str
    called_ae: str
    contexts: dict[int, tuple[str, str]]
    peer_max_pdu: int
    rejected: RejectReason | None


def supported_contexts() -> list[Any]:
    """Presentation contexts the SCP supports: all storage SOP classes, and Verification."""
    from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
    from pynetdicom.presentation import build_context

    classes = [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]
    return [build_context(uid, list(ALL_TRANSFER_SYNTAXES)) for uid in [*classes, VERIFICATION]]


def negotiate(
    body: bytes | memoryview,
    acceptance: Acceptance,
    contexts: list[Any],
    *,
    at_limit: bool,
) -> Negotiated:
    """Answer an A-ASSOCIATE-RQ whose body (after the PDU header) is ``body``.

    ``at_limit`` says the SCP already serves as many associations as allowed.
    Raises :class:`~streamgale.dicom.ingest.dul.ProtocolError` if the PDU
    does not decode.
    """
    from pynetdicom.pdu import A_ASSOCIATE_RQ

    from streamgale.dicom.ingest.dul import ProtocolError

    pdu = A_ASSOCIATE_RQ()
    try:
        pdu.decode(b"\x01\x00" + len(body).to_bytes(4, "big") + bytes(body))
        request = pdu.to_primitive()
    except Exception as exc:  # pynetdicom raises assorted errors for malformed items
        raise ProtocolError(f"malformed A-ASSOCIATE-RQ ({exc})", reason=6) from exc
    calling = str(request.calling_ae_title).strip()
    called = str(request.called_ae_title).strip()
    reason = _reject_reason(request, acceptance, at_limit=at_limit, calling=calling, called=called)
    if reason is not None:
        return Negotiated(encode_associate_rj(*reason.value), calling, called, {}, 0, reason)
    accepted, reply = _accept(request, acceptance, contexts)
    peer_max = int(request.maximum_length_received or 0)
    return Negotiated(reply, calling, called, accepted, peer_max, None)


def _reject_reason(
    request: Any, acceptance: Acceptance, *, at_limit: bool, calling: str, called: str
) -> RejectReason | None:
    if str(request.application_context_name) != APPLICATION_CONTEXT_NAME:
        return RejectReason.APPLICATION_CONTEXT_NOT_SUPPORTED
    if acceptance.check_called_ae and called != acceptance.ae_title.strip():
        return RejectReason.CALLED_AE_NOT_RECOGNIZED
    allowed = acceptance.allowed_calling_aes
    if allowed is not None and calling not in allowed:
        return RejectReason.CALLING_AE_NOT_RECOGNIZED
    if at_limit:
        return RejectReason.LOCAL_LIMIT_EXCEEDED
    return None


def _accept(
    request: Any, acceptance: Acceptance, contexts: list[Any]
) -> tuple[dict[int, tuple[str, str]], bytes]:
    from pydicom.uid import UID
    from pynetdicom.pdu import A_ASSOCIATE_AC
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
        MaximumLengthNotification,
        SCP_SCU_RoleSelectionNegotiation,
    )
    from pynetdicom.presentation import negotiate_as_acceptor

    roles = {
        item.sop_class_uid: (item.scu_role, item.scp_role)
        for item in request.user_information
        if isinstance(item, SCP_SCU_RoleSelectionNegotiation) and item.sop_class_uid
    }
    results, role_items = negotiate_as_acceptor(
        request.presentation_context_definition_list, contexts, roles or None
    )
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = acceptance.max_pdu
    class_uid = ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = UID(acceptance.implementation_class_uid)
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = acceptance.implementation_version_name
    reply = A_ASSOCIATE()
    reply.application_context_name = UID(APPLICATION_CONTEXT_NAME)
    reply.calling_ae_title = request.calling_ae_title
    reply.called_ae_title = request.called_ae_title
    reply.result = 0x00
    reply.result_source = 0x01
    reply.presentation_context_definition_results_list = results
    reply.user_information = [max_length, class_uid, version, *role_items]
    pdu = A_ASSOCIATE_AC()
    pdu.from_primitive(reply)
    accepted = {
        cx.context_id: (str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
        for cx in results
        if cx.result == 0x00 and cx.context_id is not None
    }
    return accepted, bytes(pdu.encode())
