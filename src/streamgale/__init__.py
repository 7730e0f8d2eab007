"""StreamGale: stream data from where it is born into AI models and back.

The public API is this curated list; everything else is an implementation
detail that may change.
"""

from streamgale.batch import Batch, ColumnBatch
from streamgale.connectors.base import (
    BadRecord,
    BuildContext,
    Sink,
    SinkPartition,
    Source,
    SourcePartition,
)
from streamgale.dataflow import (
    Branches,
    KeyedStream,
    Pipeline,
    Stream,
    WindowedStream,
    WindowOutput,
)
from streamgale.errors import StreamGaleError
from streamgale.runtime.config import RuntimeConfig
from streamgale.runtime.runner import Runtime

__version__ = "0.1.0"

__all__ = [
    "BadRecord",
    "Batch",
    "Branches",
    "BuildContext",
    "ColumnBatch",
    "KeyedStream",
    "Pipeline",
    "Runtime",
    "RuntimeConfig",
    "Sink",
    "SinkPartition",
    "Source",
    "SourcePartition",
    "Stream",
    "StreamGaleError",
    "WindowOutput",
    "WindowedStream",
    "__version__",
]
