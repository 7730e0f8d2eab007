"""What flows into and out of an inference step.

An :class:`InferenceRequest` carries one preprocessed tensor (an image, a
frame, or the ``k`` slices of a volume) and the metadata that must travel
with it to the result (Study/Series/SOP Instance UIDs, the route, ...).
Each request ends as exactly one :class:`InferenceResult` (output port 0)
or one :class:`InferenceFailure` (output port 1).

>>> import numpy as np
>>> request = InferenceRequest("1.2.3.4", np.zeros((1, 1, 8, 8), np.float32),
...                            {"StudyInstanceUID": "1.2.3"}, priority=1)
>>> request.rows
1
>>> InferenceRequest.from_record({"key": "a", "tensor": np.zeros((2, 3), np.float32)}).rows
2
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.errors import InferenceError

__all__ = ["InferenceFailure", "InferenceRequest", "InferenceResult"]

_REQUEST_KEYS = ("key", "tensor", "meta", "priority")


@dataclass(frozen=True, eq=False, slots=True)
class InferenceRequest:
    """One input for a model.

    ``tensor`` has the model's input layout, batch dimension included:
    ``(1, C, H, W)`` for an image, ``(k, C, H, W)`` for ``k`` slices or
    frames, which all go into the same model run. ``priority``: higher
    runs first when requests queue up (STAT work overtakes routine work);
    order is first-in first-out within one priority. ``meta`` is passed to
    the result untouched.
    """

    key: str
    tensor: npt.NDArray[Any]
    meta: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 0

    @property
    def rows(self) -> int:
        """How many rows (samples) this request adds to a batch."""
        return int(self.tensor.shape[0]) if self.tensor.ndim else 0  # 0-d: refused later

    @classmethod
    def from_record(cls, record: object) -> InferenceRequest:
        """``record`` itself if it is a request, else a request from a mapping
        with ``key``, ``tensor`` and optionally ``meta`` and ``priority``.

        Raises :class:`InferenceError` saying what is missing.
        """
        if isinstance(record, InferenceRequest):
            return record
        if (
            isinstance(record, Mapping)
            and "key" in record
            and isinstance(record.get("tensor"), np.ndarray)
            and all(k in _REQUEST_KEYS for k in record)
            and isinstance(record.get("meta", {}), Mapping)
            and type(record.get("priority", 0)) is int
        ):
            return cls(
                str(record["key"]),
                record["tensor"],
                record.get("meta", {}),
                record.get("priority", 0),
            )
        raise InferenceError(
            "an inference step takes InferenceRequest records, or mappings with keys "
            f"{', '.join(_REQUEST_KEYS)} (tensor a numpy array, meta a mapping, priority "
            f"a whole number); got {_describe(record)}"
        )


@dataclass(frozen=True, eq=False, slots=True)
class InferenceResult:
    """The model's outputs for one request.

    ``outputs`` maps each configured output name to this request's rows of
    it (leading dimension = the request's rows). ``batch_size`` is the rows
    of the model run that produced it; ``queued_ms`` is the time from arrival
    at the step to the start of that run, ``infer_ms`` the run itself (both
    from the step's clock).
    """

    key: str
    outputs: dict[str, npt.NDArray[Any]]
    meta: Mapping[str, Any]
    model: str
    version: str
    batch_size: int
    queued_ms: float
    infer_ms: float


@dataclass(frozen=True, eq=False, slots=True)
class InferenceFailure:
    """A request the model could not process, with the reason (for quarantine).

    ``error`` says what went wrong; the model stays loaded and serves the
    other requests.
    """

    request: InferenceRequest
    error: str
    model: str = ""
    version: str = ""

    @property
    def key(self) -> str:
        return self.request.key


def _describe(record: object) -> str:
    if isinstance(record, Mapping):
        return f"a mapping with keys {sorted(map(str, record))}"
    return type(record).__name__
