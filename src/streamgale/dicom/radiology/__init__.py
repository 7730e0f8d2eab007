"""The radiology pipeline: DICOM doors -> assembly -> AI -> SR/SEG back into the study."""

from streamgale.dicom.radiology.collect import StudyCollector, StudyWork
from streamgale.dicom.radiology.finalize import Finalizer, ResultSummary
from streamgale.dicom.radiology.pipeline import (
    DashboardSettings,
    RadiologyApp,
    RadiologySettings,
    StowSettings,
)
from streamgale.dicom.radiology.prepare import Expectation, Preparer

__all__ = [
    "DashboardSettings",
    "Expectation",
    "Finalizer",
    "Preparer",
    "RadiologyApp",
    "RadiologySettings",
    "ResultSummary",
    "StowSettings",
    "StudyCollector",
    "StudyWork",
]
