"""The dataflow API: pipelines of typed streams and their operators."""

from streamgale.dataflow.keyed import KeyedStream, WindowedStream, WindowOutput
from streamgale.dataflow.pipeline import Pipeline
from streamgale.dataflow.stream import Branches, Stream

__all__ = ["Branches", "KeyedStream", "Pipeline", "Stream", "WindowOutput", "WindowedStream"]
