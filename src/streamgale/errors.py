"""The one exception tree of StreamGale.

Every error StreamGale raises on purpose derives from :class:`StreamGaleError`,
so callers can catch the whole family with one ``except``::

    StreamGaleError
    ├── ConfigError              bad pipeline definition, YAML or option
    │   └── PipelineDefinitionError   a step graph that cannot run
    ├── MissingExtraError        an optional integration is not installed
    ├── StepError                a user function raised inside a step
    ├── UnreadSideOutputError    late or failed records no step reads (kept as dead letters)
    ├── SinkError                a sink could not write, even after retries
    ├── LogError                 the durable log
    │   ├── CorruptLogError      a record failed its checksum
    │   └── OffsetOutOfRangeError
    ├── StateError               snapshots could not be read or written
    ├── DeadLetterError          the dead-letter store
    ├── QueryError               a SQL query over the lake was refused or failed
    ├── IngestError              input refused at a boundary (HTTP ...)
    │   └── BackpressureError    the input is full; the sender should retry
    └── DicomError               DICOM handling
        ├── InvalidInstanceError an instance failed validation (goes to quarantine)
        ├── PixelDecodeError     pixel data could not be decoded
        ├── DeidentificationError
        ├── InferenceError       a model failed on an input (the model stays up)
        └── DeliveryError        a result could not be delivered to a destination

Messages say what was received, what was expected and what to do about it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BackpressureError",
    "ConfigError",
    "CorruptLogError",
    "DeadLetterError",
    "DeidentificationError",
    "DeliveryError",
    "DicomError",
    "InferenceError",
    "IngestError",
    "InvalidInstanceError",
    "LogError",
    "MissingExtraError",
    "OffsetOutOfRangeError",
    "PipelineDefinitionError",
    "PixelDecodeError",
    "QueryError",
    "SinkError",
    "StateError",
    "StepError",
    "StreamGaleError",
    "UnreadSideOutputError",
]


class StreamGaleError(Exception):
    """Root of every error StreamGale raises on purpose."""


class ConfigError(StreamGaleError):
    """A configuration value is wrong.

    Carries where the value came from (``source``: a file path or "argument"),
    the ``key`` and, for YAML, the ``line``, so the message can point at it.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | Path | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.source = str(source) if source is not None else None
        self.key = key
        self.line = line
        where = []
        if self.source:
            where.append(self.source if line is None else f"{self.source}:{line}")
        if key:
            where.append(f"key '{key}'")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)


class PipelineDefinitionError(ConfigError):
    """The step graph is malformed: duplicate step ids, no sink, a dangling stream."""


class MissingExtraError(StreamGaleError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional package '{module}', which is not installed; "
            f"install it with: pip install 'streamgale[{extra}]'"
        )


def require(module: str, *, feature: str, extra: str) -> object:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature, extra, module.split(".", maxsplit=1)[0]) from exc


class StepError(StreamGaleError):
    """A user function raised while a step processed a record."""

    def __init__(self, step_id: str, cause: BaseException) -> None:
        self.step_id = step_id
        self.cause = cause
        super().__init__(f"step '{step_id}' raised {type(cause).__name__}: {cause}")


class UnreadSideOutputError(StreamGaleError):
    """Records went to a side output (``late``, ``failed``) that no step reads.

    They are kept in the dead-letter store with this error instead of vanishing.
    """


class SinkError(StreamGaleError):
    """A sink failed to write a batch after all its retries."""

    def __init__(self, step_id: str, attempts: int, cause: BaseException) -> None:
        self.step_id = step_id
        self.attempts = attempts
        self.cause = cause
        super().__init__(
            f"sink '{step_id}' failed {attempts} times, last with "
            f"{type(cause).__name__}: {cause}; the batch went to the dead-letter store"
        )


class LogError(StreamGaleError):
    """The durable log could not do what was asked."""


class CorruptLogError(LogError):
    """A record in the middle of the log failed its checksum.

    A torn tail is repaired on open; corruption before the tail is not guessed
    at, because reading past it would hand garbage to the pipeline.
    """


class OffsetOutOfRangeError(LogError):
    """A read asked for an offset that retention has deleted or that is past the end."""


class StateError(StreamGaleError):
    """A state snapshot could not be saved or loaded."""


class DeadLetterError(StreamGaleError):
    """The dead-letter store could not do what was asked (unknown id, bad store)."""


class QueryError(StreamGaleError):
    """A SQL query over the lake was refused (not read-only, outside the lake) or failed."""


class IngestError(StreamGaleError):
    """Input refused at a boundary; ``status`` is the protocol status to send back."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class BackpressureError(IngestError):
    """The pipeline is behind; the sender should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=503)


class DicomError(StreamGaleError):
    """Something about a DICOM object or exchange was wrong."""


class InvalidInstanceError(DicomError):
    """An instance failed validation; ``reason`` is the human-readable quarantine reason."""

    def __init__(self, reason: str, *, sop_instance_uid: str | None = None) -> None:
        self.reason = reason
        self.sop_instance_uid = sop_instance_uid
        super().__init__(reason if not sop_instance_uid else f"{sop_instance_uid}: {reason}")


class PixelDecodeError(DicomError):
    """Pixel data could not be decoded (unsupported or damaged transfer syntax)."""


class DeidentificationError(DicomError):
    """An instance could not be de-identified as the profile requires."""


class InferenceError(DicomError):
    """A model failed on an input; the input is quarantined and the model stays loaded."""


class DeliveryError(DicomError):
    """A result could not be delivered to a destination (it stays queued for retry)."""
