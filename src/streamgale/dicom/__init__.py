"""Medical imaging: DICOM ingest, validation, de-identification, pixels and results.

Everything here needs the ``dicom`` extra (``pip install 'streamgale[dicom]'``).
Names and enums follow the DICOM standard's attribute names; docstrings cite
the tag or the PS3 section they implement.
"""
