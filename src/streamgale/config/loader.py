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

A file with a top-level ``radiology:`` key is a radiology pipeline instead
(:mod:`streamgale.dicom.radiology.config`); :func:`load_file` reads either,
through the same YAML reader and the same runtime-setting readers.

Relative paths in the file are relative to the folder that holds the file,
so a pipeline runs the same from any working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streamgale.config.document import Node, parse_document, read_document
from streamgale.config.graph import GraphBuilder
from streamgale.config.runtime_section import RUNTIME_KEYS, build_runtime_config
from streamgale.dataflow import Pipeline
from streamgale.errors import ConfigError, MissingExtraError
from streamgale.runtime.config import RuntimeConfig

if TYPE_CHECKING:
    from streamgale.dicom.radiology.pipeline import RadiologySettings

__all__ = [
    "TOP_LEVEL_KEYS",
    "LoadedPipeline",
    "is_radiology_document",
    "load_file",
    "load_pipeline",
    "load_pipeline_text",
]

TOP_LEVEL_KEYS = ("pipeline", "description", "runtime", "sources", "steps", "sinks")
RADIOLOGY_KEY = "radiology"
RADIOLOGY_EXTRAS = "dicom,inference,lake"
"""What ``pip install 'streamgale[...]'`` a radiology file needs (as in examples/)."""


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
    return _pipeline_from_document(read_document(file), file.parent, overrides)


def load_file(
    path: str | os.PathLike[str], *, overrides: Mapping[str, object] | None = None
) -> LoadedPipeline | RadiologySettings:
    """Load a pipeline file or a radiology file, whichever ``path`` holds.

    ``overrides`` are the runtime settings of :func:`load_pipeline` plus, for
    radiology files, the listener settings (``port``, ``ae_title``,
    ``stow_port``, ``dashboard_port``); a listener setting given for a plain
    pipeline file is an error, not silently ignored.
    """
    file = Path(path)
    root = read_document(file)
    if is_radiology_document(root):
        try:
            from streamgale.dicom.radiology.config import radiology_from_document
        except ImportError as exc:  # name every extra a radiology pipeline needs, not one
            missing = getattr(exc, "name", None) or "pydicom"
            raise MissingExtraError(
                f"{file} (a radiology pipeline)", RADIOLOGY_EXTRAS, missing
            ) from exc
        return radiology_from_document(root, base_dir=file.parent, overrides=overrides)
    extra = {k: v for k, v in (overrides or {}).items() if k not in RUNTIME_KEYS}
    given = sorted(k for k, v in extra.items() if v is not None)
    if given:
        raise ConfigError(
            f"listener setting(s) {', '.join(given)} apply only to radiology files "
            f"(with a top-level 'radiology:' key); {file} is a plain pipeline",
            source="argument",
        )
    runtime = {k: v for k, v in (overrides or {}).items() if k in RUNTIME_KEYS}
    return _pipeline_from_document(root, file.parent, runtime)


def is_radiology_document(root: Node) -> bool:
    """Whether a parsed file describes a radiology pipeline (a top-level ``radiology:`` key)."""
    return isinstance(root.value, dict) and RADIOLOGY_KEY in root.value


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
    return _pipeline_from_document(parse_document(text, source_name), folder, overrides)


def _pipeline_from_document(
    root: Node, folder: Path, overrides: Mapping[str, object] | None
) -> LoadedPipeline:
    source_name = root.source
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
