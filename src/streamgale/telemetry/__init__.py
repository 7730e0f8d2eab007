"""Telemetry: every record's lifecycle, as a durable stream.

:class:`Telemetry` records lifecycle events (received, validated,
de-identified, preprocessed, inferred, finalized, delivered, failed,
quarantined) and model outputs as rows on a log topic; :func:`land` adds the
steps that carry those rows to the Parquet lake (and optionally to an
OpenTelemetry exporter) to a pipeline; :class:`Landing` runs them beside one. Table schemas live in
:mod:`streamgale.lake.schemas`.
"""

from streamgale.telemetry.landing import Landing, land
from streamgale.telemetry.recorder import TOPIC, Telemetry

__all__ = ["TOPIC", "Landing", "Telemetry", "land"]
