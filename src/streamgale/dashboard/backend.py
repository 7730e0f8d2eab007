"""What the dashboard server asks of a pipeline: the :class:`DashboardBackend` protocol.

The HTTP side (:mod:`streamgale.dashboard.server`) knows nothing about
DICOM or runtimes; it calls these methods and sends their JSON-ready dicts
as they are. :class:`~streamgale.dashboard.radiology.RadiologyBackend`
implements the protocol for the radiology pipeline; tests use fakes.

Errors a backend raises become HTTP statuses:

* :class:`LookupError` (``KeyError``): 404, an unknown result, entry or report;
* :class:`~streamgale.errors.MissingExtraError`: 501, with the extra to install;
* any other :class:`~streamgale.errors.StreamGaleError`: 400, its message
  explains what was wrong (refused SQL, an id in the wrong state);
* anything else: 500, logged with its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

__all__ = ["DashboardBackend", "JsonObject"]

JsonObject: TypeAlias = dict[str, Any]
"""A JSON object as Python: str keys; values str, int, float, bool, None, list or dict."""


@runtime_checkable
class DashboardBackend(Protocol):
    """The data and actions behind every dashboard page; must be thread-safe.

    Each method's docstring gives the JSON shape the browser code reads.
    """

    @property
    def name(self) -> str:
        """The pipeline's name, shown in the page title."""
        ...

    def graph(self) -> JsonObject:
        """``{"pipeline", "steps": [{"id", "kind", "inputs": [ids]}], "edges": [{"from", "to"}]}``.

        Steps come in a topological order (every step after its inputs).
        """
        ...

    def steps(self) -> JsonObject:
        """Live numbers per step and channel.

        ``{"at": unix_s, "window_s", "steps": [{"id", "records_in", "records_out",
        "errors", "dead_letters", "rate_in", "rate_out", "queued",
        "latency_ms": {"p50", "p95", "p99"} | null, "latency_window": "recent" |
        "all" | null}], "channels": [{"from", "to", "depth"}], "totals": {...}}``.
        Rates are records per second over the last ``window_s`` seconds.
        """
        ...

    def results(self, limit: int) -> JsonObject:
        """The newest results: ``{"results": [{"result_id", "study_instance_uid", "model",
        "model_version", "version", "created_at", "label", "present", "probability"}]}``."""
        ...

    def result(self, result_id: str) -> JsonObject:
        """One result with its ``findings``, ``timings_ms``, ``instances`` and ``timeline``.

        ``timeline`` is ``{"source": "lake" | "result", "stages": [{"stage",
        "start_ms", "end_ms", "count"}]}``, times from the study's first
        arrival. KeyError for an unknown id.
        """
        ...

    def thumbnail(self, result_id: str) -> bytes:
        """A PNG (at most 256 px a side) of a source image of the result; KeyError if none."""
        ...

    def quarantine(self, status: str | None, limit: int) -> JsonObject:
        """``{"counts": {status: n}, "entries": [entry...]}``, oldest first.

        ``status`` None: the entries waiting for an operator (quarantined or
        release requested); ``"all"``: every entry; else one status.
        """
        ...

    def release(self, ids: Sequence[str]) -> JsonObject:
        """Ask for quarantined inputs to be processed again: ``{"requested": n}``."""
        ...

    def discard(self, ids: Sequence[str]) -> JsonObject:
        """Delete quarantined inputs' bytes for good: ``{"discarded": n}``."""
        ...

    def destinations(self) -> JsonObject:
        """``{"destinations": [{"destination", "pending", "failed", "delivered", "attempts",
        "next_attempt_in", "last_error"}]}``."""
        ...

    def reports(self) -> JsonObject:
        """``{"reports": [{"name", "title", "description", "params": [names]}]}``."""
        ...

    def report(self, name: str, params: Mapping[str, Any]) -> JsonObject:
        """Run a canned report; the shape of :meth:`sql`. KeyError for an unknown name."""
        ...

    def sql(self, query: str) -> JsonObject:
        """Run read-only SQL over the lake.

        ``{"columns": [...], "rows": [[...]], "row_count", "truncated", "elapsed_ms"}``.
        """
        ...

    def metrics(self) -> bytes:
        """The Prometheus text exposition of the pipeline's metrics."""
        ...
