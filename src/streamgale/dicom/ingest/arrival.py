"""An instance on its way in: inspected and hashed while its fragments still arrive.

A C-STORE dataset comes in several P-DATA-TF PDUs (PS3.8 9.3.5), and the
sender waits for the response before sending the next instance. Reading the
header and computing the SHA-256 that names the stored file take about half a
millisecond for a 512x512 CT slice; done as each fragment lands, that work
overlaps with the sender still sending, instead of adding to its wait.

The stored file begins with a zeroed preamble and a File Meta header built
from the dataset's own UIDs (:mod:`~streamgale.dicom.ingest.inspection`), so
hashing can start only once the fragments hold the whole header, up to Pixel
Data; until then :meth:`Arrival.feed` just waits for more. Anything the fast
header reader cannot take (another encoding, no Pixel Data) simply leaves
the work to :meth:`~streamgale.dicom.ingest.store.InstanceStore.put`.

>>> from pydicom.filebase import DicomBytesIO
>>> from pydicom.filewriter import write_dataset
>>> from streamgale.dicom.synthetic import ct_series
>>> buffer = DicomBytesIO()
>>> buffer.is_little_endian, buffer.is_implicit_VR = True, False
>>> _ = write_dataset(buffer, ct_series(slices=1, size=16)[0])
>>> data = memoryview(buffer.getvalue())
>>> arrival = Arrival("1.2.840.10008.1.2.1", source_ae="SCANNER")
>>> arrival.feed(data[:1000]); arrival.feed(data)
>>> found, sha256 = arrival.finish(data)
>>> found.modality, len(sha256)
('CT', 64)
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING

from streamgale.dicom.ingest.inspection import Inspected, inspect_received

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["Arrival"]


class Arrival:
    """The inspection and SHA-256 of one bare dataset, built up as it is received.

    ``transfer_syntax_uid`` is the presentation context's; ``source_ae`` goes
    into the File Meta as for :func:`~streamgale.dicom.ingest.inspection.inspect_instance`.
    """

    def __init__(self, transfer_syntax_uid: str, *, source_ae: str | None = None) -> None:
        self.transfer_syntax_uid = transfer_syntax_uid
        self.source_ae = source_ae
        self._inspected: Inspected | None = None
        self._digest: _Hash | None = None
        self._hashed = 0
        # Retrying the header on every fragment would read a large header (or one
        # with no Pixel Data at all) over and over: wait until the bytes double.
        self._next_try = 0

    def feed(self, received: memoryview) -> None:
        """Take in ``received``: every byte of the dataset so far, the earlier ones unchanged."""
        if self._digest is None:
            if len(received) < self._next_try:
                return
            found = inspect_received(
                received, transfer_syntax_uid=self.transfer_syntax_uid, source_ae=self.source_ae
            )
            if found is None:
                self._next_try = 2 * len(received)
                return
            self._inspected = found
            self._digest = hashlib.sha256(found.header)
        self._digest.update(received[self._hashed :])
        self._hashed = len(received)

    def finish(self, data: memoryview) -> tuple[Inspected, str] | None:
        """The inspection of the whole dataset ``data`` and the SHA-256 of its stored file.

        None if the work could not be done on the way (the store does it then).
        """
        if len(data) < self._hashed:
            return None
        if self._digest is None:
            self._next_try = 0  # one last try, on the whole dataset
            self.feed(data)
        if self._digest is None or self._inspected is None:
            return None
        self._digest.update(data[self._hashed :])
        self._hashed = len(data)
        return replace(self._inspected, body=data), self._digest.hexdigest()
