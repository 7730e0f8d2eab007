"""A C-STORE SCU (PS3.4 B.2, PS3.7 9.1.1) with pynetdicom: send results to a PACS.

:func:`c_store` sends a list of instances over one association. One
presentation context is proposed per (SOP Class, Transfer Syntax) pair of the
instances, so each instance goes in the encoding it is in; nothing is
transcoded.

Status handling (PS3.4 Table B.2-1, PS3.7 Annex C): 0x0000 is success.
Warnings count as success too, because the peer did store the instance:
0xB000 (coercion of data elements), 0xB006 (elements discarded), 0xB007
(data set does not match SOP Class) and the general warning 0x0001; they are
logged. Every other status, no response within the timeout, a rejected or
aborted association and a peer that cannot be reached raise
:class:`~streamgale.errors.DeliveryError` naming the destination and the
status. Resending after a failure is safe: a PACS stores a SOP Instance UID
once.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from streamgale.dicom._deps import require_dicom
from streamgale.dicom.delivery.destinations import DimseDestination
from streamgale.errors import DeliveryError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["c_store"]

logger = logging.getLogger("streamgale.dicom.delivery.cstore")

# PS3.8 9.3.2.2: at most 128 presentation contexts per association.
_MAX_CONTEXTS = 128


def c_store(destination: DimseDestination, instances: Sequence[bytes | Dataset]) -> list[int]:
    """Send ``instances`` (Part-10 bytes or Datasets) to ``destination`` in one association.

    Returns each instance's C-STORE status (success or warning). Raises
    :class:`~streamgale.errors.DeliveryError` at the first failure; instances
    before it were stored.
    """
    require_dicom("C-STORE delivery")
    from pynetdicom import AE

    datasets = [_dataset(instance) for instance in instances]
    if not datasets:
        return []
    ae = AE(ae_title=destination.calling_ae)
    for name in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
        setattr(ae, name, destination.timeout)
    contexts = sorted({(str(ds.SOPClassUID), _syntax(ds)) for ds in datasets})
    if len(contexts) > _MAX_CONTEXTS:
        raise DeliveryError(
            f"{len(contexts)} SOP Class and Transfer Syntax combinations need more than "
            f"{_MAX_CONTEXTS} presentation contexts; send the instances in smaller groups"
        )
    for sop_class, syntax in contexts:
        ae.add_requested_context(sop_class, [syntax])
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        raise DeliveryError(_association_failure(destination, assoc, contexts))
    try:
        return [_send_one(assoc, destination, ds) for ds in datasets]
    finally:
        if assoc.is_established:
            assoc.release()


def _send_one(assoc: Any, destination: DimseDestination, ds: Dataset) -> int:
    from pynetdicom.status import code_to_category

    where = f"{destination.name!r} ({destination.ae_title}@{destination.host}:{destination.port})"
    try:
        status = assoc.send_c_store(ds)
    except (ValueError, AttributeError, RuntimeError) as exc:
        raise DeliveryError(
            f"cannot send {ds.SOPInstanceUID} to {where}: {exc}; the destination may not "
            f"accept SOP Class {ds.SOPClassUID} in Transfer Syntax {_syntax(ds)}"
        ) from exc
    code = getattr(status, "Status", None)
    if code is None:
        raise DeliveryError(
            f"no C-STORE response for {ds.SOPInstanceUID} from {where} within "
            f"{destination.timeout} s (the association was aborted or timed out)"
        )
    category = code_to_category(int(code))
    if category == "Success":
        return int(code)
    if category == "Warning":
        logger.warning(
            "%s stored %s with warning status 0x%04X", where, ds.SOPInstanceUID, int(code)
        )
        return int(code)
    comment = getattr(status, "ErrorComment", None)
    raise DeliveryError(
        f"{where} refused {ds.SOPInstanceUID} with C-STORE status 0x{int(code):04X} "
        f"({category}{f': {comment}' if comment else ''})"
    )


def _association_failure(
    destination: DimseDestination, assoc: Any, proposed: list[tuple[str, str]]
) -> str:
    where = f"{destination.ae_title}@{destination.host}:{destination.port}"
    if assoc.is_rejected:
        return (
            f"destination {destination.name!r} ({where}) rejected the association from "
            f"{destination.calling_ae}; check the called and calling AE titles on the PACS"
        )
    # The rejected contexts carry the peer's reply, not what was proposed.
    classes = {str(context.abstract_syntax) for context in assoc.rejected_contexts}
    refused = [f"{sop_class} in {syntax}" for sop_class, syntax in proposed if sop_class in classes]
    if refused:  # pynetdicom aborts when no presentation context was accepted
        return (
            f"destination {destination.name!r} ({where}) accepts none of the proposed "
            f"SOP Class and Transfer Syntax pairs ({'; '.join(refused)}); configure it to "
            "accept them (for dcmtk's storescp: +xa)"
        )
    # pynetdicom reports a refused TCP connection as an aborted association too.
    state = "aborted the association or" if assoc.is_aborted else "did not answer or"
    return (
        f"destination {destination.name!r} ({where}) {state} cannot be reached; check that "
        "it runs and accepts connections on that port (the result stays queued)"
    )


def _dataset(instance: bytes | Dataset) -> Dataset:
    if not isinstance(instance, bytes | bytearray | memoryview):
        return instance
    import pydicom

    try:
        return pydicom.dcmread(io.BytesIO(instance))
    except Exception as exc:  # pydicom raises many types for damaged input
        raise DeliveryError(
            f"a queued result is not a readable DICOM file ({type(exc).__name__}: {exc})"
        ) from exc


def _syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if not syntax:
        raise DeliveryError(
            f"instance {ds.get('SOPInstanceUID')} has no Transfer Syntax UID (0002,0010) in "
            "its file meta; write it as a Part-10 file"
        )
    return str(syntax)
