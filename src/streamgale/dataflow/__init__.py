"""The dataflow API: pipelines of typed streams and their operators."""

from streamgale.dataflow.pipeline import Pipeline
from streamgale.dataflow.stream import Branches, KeyedStream, Stream, WindowedStream, WindowOutput

__all__ = ["Branches", "KeyedStream", "Pipeline", "Stream", "WindowOutput", "WindowedStream"]
