"""DICOMweb: the STOW-RS endpoint (PS3.18 10.5), its client, and multipart bodies.

* :mod:`~streamgale.dicom.web.multipart`: parse and build
  ``multipart/related; type="application/dicom"`` bodies (PS3.18 8.6);
* :mod:`~streamgale.dicom.web.response`: the Store Instances Response Module
  in DICOM JSON (PS3.18 Annex I);
* :mod:`~streamgale.dicom.web.stow`: :class:`StowServer`, which stores each
  instance durably before answering;
* :mod:`~streamgale.dicom.web.client`: :class:`StowClient`.
"""

from streamgale.dicom.web.client import StowClient, StowResult, instance_bytes
from streamgale.dicom.web.multipart import (
    DICOM_MEDIA_TYPE,
    BodyPart,
    MultipartError,
    build_related,
    parse_content_type,
    parse_related,
)
from streamgale.dicom.web.response import (
    FailureReason,
    InstanceFailure,
    InstanceReference,
    StoreInstancesResponse,
)
from streamgale.dicom.web.stow import (
    Authorizer,
    InstanceSink,
    StoredRef,
    StowServer,
    bearer_auth,
)

__all__ = [
    "DICOM_MEDIA_TYPE",
    "Authorizer",
    "BodyPart",
    "FailureReason",
    "InstanceFailure",
    "InstanceReference",
    "InstanceSink",
    "MultipartError",
    "StoreInstancesResponse",
    "StoredRef",
    "StowClient",
    "StowResult",
    "StowServer",
    "bearer_auth",
    "build_related",
    "instance_bytes",
    "parse_content_type",
    "parse_related",
]
