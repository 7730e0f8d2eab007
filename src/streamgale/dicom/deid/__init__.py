"""De-identification: PS3.15 Annex E Basic Application Level Confidentiality Profile.

>>> from streamgale.dicom.synthetic import ct_series
>>> config = DeidConfig(
...     options={Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES},
...     secret=bytes(range(32)),
... )
>>> original = ct_series(slices=1, size=8)[0]
>>> clean = deidentify(original, config)
>>> clean.PatientIdentityRemoved, clean.PatientID == str(clean.PatientName)
('YES', True)
>>> clean.PatientID.startswith("SG"), original.PatientID
(True, 'SG-0001')
>>> clean.PixelData == original.PixelData
True

See :mod:`.actions` for the table and :mod:`.profile` for the rules.
"""

from streamgale.dicom.deid.actions import TABLE_E1_1, Action
from streamgale.dicom.deid.options import SUPPORTED_OPTIONS, DeidConfig, Option, Region
from streamgale.dicom.deid.profile import deidentify
from streamgale.dicom.deid.pseudonyms import Pseudonymizer

__all__ = [
    "SUPPORTED_OPTIONS",
    "TABLE_E1_1",
    "Action",
    "DeidConfig",
    "Option",
    "Pseudonymizer",
    "Region",
    "deidentify",
]
