"""The YAML pipeline format: the same pipelines as the Python API, written as a file.

>>> from streamgale.config import load_pipeline_text
>>> loaded = load_pipeline_text('''
... pipeline: doc
... sources: {readings: {type: jsonl, path: readings.jsonl}}
... steps:
...   - {id: by_sensor, key_by: sensor}
...   - id: stats
...     window: {tumbling: 10s, time: ts}
...     aggregate: {n: count, peak: max(value)}
... sinks: {out: {type: stdout, from: stats}, late: {type: stdout, from: stats.late}}
... ''')
>>> list(loaded.pipeline.steps)
['readings', 'by_sensor', 'stats', 'out', 'late']

See :mod:`streamgale.config.loader` for the file layout.
"""

from streamgale.config.durations import DURATION_FORMATS, parse_duration
from streamgale.config.loader import (
    LoadedPipeline,
    is_radiology_document,
    load_file,
    load_pipeline,
    load_pipeline_text,
)
from streamgale.config.runtime_section import RUNTIME_KEYS

__all__ = [
    "DURATION_FORMATS",
    "RUNTIME_KEYS",
    "LoadedPipeline",
    "is_radiology_document",
    "load_file",
    "load_pipeline",
    "load_pipeline_text",
    "parse_duration",
]
