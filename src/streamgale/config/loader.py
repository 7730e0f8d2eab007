"""Load a pipeline file: YAML in, a :class:`Pipeline` and its :class:`RuntimeConfig` out.

A file has five top-level keys (``description`` is free text)::

    pipeline: sensors
    runtime: {state_dir: .streamgale/sensors, checkpoint_interval: 1s}
    sources:
      readings: {type: jsonl, path: data/readings.jsonl}
    steps:
      - id: by_sensor
        key_by: sensor
      - id: stats
        window: {tumbling: 10s, time: ts}
        aggregate: {n: count, peak: max(value)}
    sinks:
      out: {type: stdout, from: stats}

Relative paths in the file are relative to the folder that holds the file,
so a pipeline runs the same from any working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamgale.config.document import parse_document
from streamgale.config.graph import GraphBuilder
from streamgale.config.runtime_section import build_runtime_config
from streamgale.dataflow import Pipeline
from streamgale.errors import ConfigError
from streamgale.runtime.config import RuntimeConfig

__all__ = ["TOP_LEVEL_KEYS", "LoadedPipeline", "load_pipeline", "load_pipeline_text"]

TOP_LEVEL_KEYS = ("pipeline", "description", "runtime", "sources", "steps", "sinks")


@dataclass(frozen=True)
class LoadedPipeline:
    """A pipeline built from a file, with the runtime configuration to run it with."""

    pipeline: Pipeline
    runtime: RuntimeConfig
    source: str
    """The file (or name) it was loaded from, for messages."""

    def run(self) -> None:
        """Run the pipeline with its runtime configuration (until its sources end)."""
        self.pipeline.run(self.runtime)


def load_pipeline(
    path: str | os.PathLike[str], *, overrides: Mapping[str, object] | None = None
) -> LoadedPipeline:
    """Load the pipeline file at ``path``.

    ``overrides`` replaces settings of the ``runtime:`` section (keys are
    :class:`RuntimeConfig` fields such as ``state_dir`` or ``metrics_port``;
    ``None`` values are ignored). Raises :class:`ConfigError` naming the
    file, line and key of the first problem.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the pipeline file: {reason}", source=file) from exc
    return load_pipeline_text(text, str(file), base_dir=file.parent, overrides=overrides)


def load_pipeline_text(
    text: str,
    source_name: str = "<pipeline>",
    *,
    base_dir: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> LoadedPipeline:
    """Load a pipeline from YAML ``text``; ``source_name`` names it in errors.

    Relative paths are taken relative to ``base_dir`` (default: the current
    directory).

    >>> loaded = load_pipeline_text('''
    ... pipeline: doc
    ... sources: {numbers: {type: jsonl, path: numbers.jsonl}}
    ... sinks: {out: {type: stdout}}
    ... ''')
    >>> list(loaded.pipeline.steps)
    ['numbers', 'out']
    >>> load_pipeline_text("pipeline: doc\\nsources: {}\\nsinkz: {}\\n", "p.yaml")
    Traceback (most recent call last):
    ...
    streamgale.errors.ConfigError: p.yaml:3, key 'sinkz': unknown key 'sinkz'; allowed: \
pipeline, description, runtime, sources, steps, sinks
    """
    folder = Path(base_dir) if base_dir is not None else Path.cwd()
    root = parse_document(text, source_name)
    sections = root.mapping(allowed=TOP_LEVEL_KEYS, required=("pipeline", "sources", "sinks"))
    if "description" in sections:
        sections["description"].string()
    name_node = sections["pipeline"]
    pipeline = name_node.attempt(lambda: Pipeline(name_node.string()))
    builder = GraphBuilder(pipeline, folder)
    builder.add_sources(sections["sources"])
    if "steps" in sections:
        builder.add_steps(sections["steps"])
    builder.add_sinks(sections["sinks"])
    root.attempt(pipeline.validate)
    runtime = build_runtime_config(sections.get("runtime"), folder, overrides)
    return LoadedPipeline(pipeline, runtime, source_name)
