"""Send raw bytes as the data set of one C-STORE, as a broken or hostile peer would.

dcmtk's storescu parses what it sends, so it cannot send a truncated or
malformed data set. Stock pynetdicom can: with ``STORE_SEND_CHUNKED_DATASET``
it streams a file's bytes after its File Meta Information unparsed. This
script wraps ``body`` in File Meta naming the given UIDs, sends it, and
prints the C-STORE status as hex and its Error Comment (0000,0902), or ``none``
when no response came.

    python -m tests.dicom.radiology.raw_scu PORT SOP_CLASS SOP_INSTANCE SYNTAX FILE

Run as a process of its own: the pynetdicom setting is process-wide.
"""

from __future__ import annotations

import sys
import tempfile
from io import BytesIO
from pathlib import Path

from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE, _config


def _part10(body: bytes, sop_class: str, sop_instance: str, syntax: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = syntax
    buffer = BytesIO()
    buffer.write(bytes(128) + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)  # type: ignore[arg-type]
    return buffer.getvalue() + body


def main(port: int, sop_class: str, sop_instance: str, syntax: str, body: bytes) -> str:
    _config.STORE_SEND_CHUNKED_DATASET = True
    ae = AE(ae_title="HOSTILE")
    ae.add_requested_context(sop_class, syntax)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "raw.dcm"
        path.write_bytes(_part10(body, sop_class, sop_instance, syntax))
        assoc = ae.associate("127.0.0.1", port, ae_title="STREAMGALE")
        if not assoc.is_established:
            return "no-association"
        try:
            status = assoc.send_c_store(path)
        finally:
            assoc.release()
    if not status or "Status" not in status:
        return "none"
    return f"{status.Status:04X} {status.get('ErrorComment', '')}".strip()


if __name__ == "__main__":
    port, sop_class, sop_instance, syntax, file = sys.argv[1:6]
    print(main(int(port), sop_class, sop_instance, syntax, Path(file).read_bytes()))
