"""Model serving: ONNX models loaded once, kept warm, fed by dynamic micro-batches.

* :mod:`~streamgale.inference.config`: the small YAML config each model ships
  with (:class:`ModelConfig`, :func:`load_model_config`);
* :mod:`~streamgale.inference.session`: one model on the best ONNX Runtime
  execution provider present (:class:`ModelSession`);
* :mod:`~streamgale.inference.batcher`: the pipeline step that batches
  requests across instances and studies (:func:`infer`), and the same
  batching without a pipeline (:func:`run_batched`);
* :mod:`~streamgale.inference.registry`: several models side by side.

Running models needs the ``inference`` extra (``pip install 'streamgale[inference]'``);
this package imports without it, and a session says which extra is missing.
"""

from streamgale.inference.batcher import (
    BatchOutcome,
    DynamicBatcher,
    InferenceStreams,
    infer,
    run_batched,
)
from streamgale.inference.config import (
    ModelConfig,
    Task,
    TensorSpec,
    load_model_config,
    load_model_config_text,
    model_config_from_node,
)
from streamgale.inference.records import InferenceFailure, InferenceRequest, InferenceResult
from streamgale.inference.registry import ModelRegistry
from streamgale.inference.session import PROVIDERS_ENV, ModelSession, select_providers

__all__ = [
    "PROVIDERS_ENV",
    "BatchOutcome",
    "DynamicBatcher",
    "InferenceFailure",
    "InferenceRequest",
    "InferenceResult",
    "InferenceStreams",
    "ModelConfig",
    "ModelRegistry",
    "ModelSession",
    "Task",
    "TensorSpec",
    "infer",
    "load_model_config",
    "load_model_config_text",
    "model_config_from_node",
    "run_batched",
    "select_providers",
]
