"""Tests of streamgale.dicom.ingest."""
