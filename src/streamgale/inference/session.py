"""One ONNX model, loaded once and kept warm, on the best execution provider present.

The provider is picked when the session loads, from what this machine's
ONNX Runtime build offers (``onnxruntime.get_available_providers()``), in
the order TensorRT, CUDA, CPU. ``providers=`` or the environment variable
``STREAMGALE_ORT_PROVIDERS`` (comma separated, full names or ``tensorrt``,
``cuda``, ``cpu``) override that order. ONNX Runtime itself falls back to
the next provider in the list when one fails to initialise, so the provider
actually used is read back from the session and logged.

>>> select_providers(["CPUExecutionProvider", "CUDAExecutionProvider"])
['CUDAExecutionProvider', 'CPUExecutionProvider']
>>> select_providers(["CPUExecutionProvider", "CUDAExecutionProvider"], ["cuda"])
['CUDAExecutionProvider', 'CPUExecutionProvider']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from streamgale.errors import ConfigError, InferenceError, MissingExtraError
from streamgale.inference.config import ModelConfig, TensorSpec

__all__ = [
    "PROVIDERS_ENV",
    "PROVIDER_ALIASES",
    "PROVIDER_PREFERENCE",
    "ModelSession",
    "select_providers",
]

log = logging.getLogger(__name__)

PROVIDERS_ENV = "STREAMGALE_ORT_PROVIDERS"
"""Environment variable overriding the provider order, e.g. ``cuda,cpu``."""

PROVIDER_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
"""The default order: fastest first, CPU always last as the fallback."""

PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
"""Short names accepted in ``providers=`` and ``STREAMGALE_ORT_PROVIDERS``."""

_ORT_TYPES = {
    "float32": "tensor(float)",
    "float16": "tensor(float16)",
    "float64": "tensor(double)",
    "uint8": "tensor(uint8)",
    "int8": "tensor(int8)",
    "uint16": "tensor(uint16)",
    "int16": "tensor(int16)",
    "int32": "tensor(int32)",
    "int64": "tensor(int64)",
    "bool": "tensor(bool)",
}

Array = npt.NDArray[Any]


def select_providers(available: Sequence[str], requested: Sequence[str] | None = None) -> list[str]:
    """The execution providers to ask ONNX Runtime for, best first.

    Without ``requested``: :data:`PROVIDER_PREFERENCE` filtered by
    ``available``. With it: the requested ones (aliases resolved) that are
    available, in the requested order, plus CPU as the last resort. Raises
    :class:`ConfigError` when none of the requested providers is available.
    """
    if requested is None:
        chosen = [p for p in PROVIDER_PREFERENCE if p in available]
        return chosen or list(available)[:1]
    names = [PROVIDER_ALIASES.get(p.strip().lower(), p.strip()) for p in requested if p.strip()]
    chosen = [p for p in dict.fromkeys(names) if p in available]
    missing = [p for p in names if p not in available]
    if missing:
        log.warning("execution providers %s are not available here; skipping them", missing)
    if not chosen:
        raise ConfigError(
            f"none of the requested execution providers {names} is available; this "
            f"ONNX Runtime offers: {', '.join(available)}",
            key=PROVIDERS_ENV,
        )
    if "CPUExecutionProvider" in available and "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingExtraError("ONNX inference", "inference", "onnxruntime") from exc
    return onnxruntime


class ModelSession:
    """An ONNX Runtime session for one :class:`ModelConfig`, loaded once and warm.

    ``run`` is thread-safe (ONNX Runtime sessions are). ``intra_op_threads``
    bounds the threads one run uses (default: ONNX Runtime's, one per core);
    graph optimisation is always at its highest level. ``spin_wait=False``
    (the default) stops ONNX Runtime's worker threads from busy-waiting after
    each run: in a pipeline the driver thread works between runs, and
    spinning workers would take CPU from it (measured: up to 2x slower
    Python between runs on a 2-core machine). ``warm_up`` runs the
    model on zeros at batch sizes ``max_batch_size`` and 1 right after
    loading, so the first real request does not pay for memory allocation
    and kernel selection; it is skipped when a sample dimension is dynamic.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        spin_wait: bool = False,
        warm_up: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        ort = _onnxruntime()
        self.config = config
        env = os.environ if environ is None else environ
        if providers is None and env.get(PROVIDERS_ENV, "").strip():
            providers = env[PROVIDERS_ENV]
        if isinstance(providers, str):
            providers = providers.split(",")
        self.requested_providers = tuple(select_providers(ort.get_available_providers(), providers))
        self._session = self._load(ort, intra_op_threads, spin_wait)
        # A failing kernel would also print its error to stderr; it reaches the
        # caller in the InferenceError (and a quarantine reason) instead.
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())
        log.info(
            "model %s loaded from %s on %s (asked for %s)",
            config.ref,
            config.path,
            self.provider,
            ", ".join(self.requested_providers),
        )
        self._check_signature()
        self._output_names = list(config.outputs)
        self._dtypes = {s.name: np.dtype(s.dtype) for s in config.inputs}
        if warm_up:
            self._warm_up()

    @property
    def provider(self) -> str:
        """The execution provider that runs the model (the first one the session took)."""
        return self.providers[0]

    @property
    def ref(self) -> str:
        """``name@version`` of the model."""
        return self.config.ref

    def run(self, batch: Array | Mapping[str, Array]) -> dict[str, Array]:
        """Run one batch; returns the configured outputs by name.

        ``batch`` is the array for a single-input model, or a mapping of input
        name to array. Raises :class:`InferenceError` when an input does not
        match the config (dtype, rank, fixed dimensions) or the model fails.
        """
        if isinstance(batch, Mapping):
            feeds = dict(batch)
        elif len(self.config.inputs) == 1:
            feeds = {self.config.inputs[0].name: batch}
        else:
            names = [s.name for s in self.config.inputs]
            raise InferenceError(
                f"model {self.ref} has {len(names)} inputs {names}; pass a mapping "
                "of input name to array instead of one array"
            )
        for spec in self.config.inputs:
            self.check_input(spec, feeds.get(spec.name))
        try:
            values = self._session.run(self._output_names, feeds, self._run_options)
        except Exception as exc:
            rows = next(iter(feeds.values())).shape[0]
            raise InferenceError(
                f"model {self.ref} failed on a batch of {rows}: {type(exc).__name__}: {exc}"
            ) from exc
        return dict(zip(self._output_names, values, strict=True))

    def check_input(self, spec: TensorSpec, value: object) -> None:
        """Raise :class:`InferenceError` unless ``value`` fits input ``spec``
        (batch dimension included)."""
        dtype = self._dtypes[spec.name]
        sample = spec.sample_shape
        if (
            type(value) is np.ndarray
            and value.dtype == dtype
            and value.shape[1:] == sample
            and value.ndim == len(spec.shape)
            and value.shape[0]
        ):
            return  # the common case, without a loop: every dimension fixed and equal
        if not isinstance(value, np.ndarray):
            raise InferenceError(
                f"model {self.ref} input '{spec.name}' takes a numpy array; "
                f"got {type(value).__name__}"
            )
        if (
            value.dtype != dtype
            or value.ndim != len(spec.shape)
            or value.shape[0] == 0
            or any(
                want is not None and want != got
                for want, got in zip(sample, value.shape[1:], strict=True)
            )
        ):
            want = ", ".join("?" if d is None else str(d) for d in sample)
            raise InferenceError(
                f"model {self.ref} input '{spec.name}' takes {dtype} arrays of shape "
                f"(batch, {want}); got {value.dtype} {value.shape}; fix the preprocessing "
                "(size, dtype) or the model config"
            )

    # Loading ------------------------------------------------------------------
    def _load(self, ort: Any, intra_op_threads: int | None, spin_wait: bool) -> Any:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if spin_wait else "0"
        )
        if intra_op_threads is not None:
            if isinstance(intra_op_threads, bool) or not (
                isinstance(intra_op_threads, int) and intra_op_threads >= 1
            ):
                raise ConfigError(
                    f"intra_op_threads must be a whole number >= 1; got {intra_op_threads!r}"
                )
            options.intra_op_num_threads = intra_op_threads
        try:
            return ort.InferenceSession(
                str(self.config.path), sess_options=options, providers=self.requested_providers
            )
        except Exception as exc:
            raise ConfigError(
                f"cannot load model {self.config.ref}: {type(exc).__name__}: {exc}; "
                "check that 'path' names a valid .onnx file",
                source=self.config.path,
            ) from exc

    def _check_signature(self) -> None:
        """The config's inputs and outputs must be the model's (names, types, ranks)."""
        model_inputs = {i.name: i for i in self._session.get_inputs()}
        for spec in self.config.inputs:
            found = model_inputs.pop(spec.name, None)
            if found is None:
                self._mismatch(f"has no input '{spec.name}'", "inputs", model_inputs)
            if found.type != _ORT_TYPES[spec.dtype]:
                self._mismatch(f"input '{spec.name}' is {found.type}, config says {spec.dtype}")
            if len(found.shape) != len(spec.shape) or any(
                isinstance(m, int) and c is not None and m != c
                for m, c in zip(found.shape, spec.shape, strict=True)
            ):
                self._mismatch(
                    f"input '{spec.name}' has shape {found.shape}, config says "
                    f"{[-1 if d is None else d for d in spec.shape]}"
                )
        if model_inputs:
            self._mismatch(f"has inputs {list(model_inputs)} the config does not list", "inputs")
        model_outputs = [o.name for o in self._session.get_outputs()]
        for name in self.config.outputs:
            if name not in model_outputs:
                self._mismatch(f"has no output '{name}'; its outputs: {model_outputs}", "outputs")

    def _mismatch(self, what: str, key: str = "inputs", names: object = None) -> NoReturn:
        hint = f"; its inputs: {list(names)}" if isinstance(names, Mapping) else ""
        raise ConfigError(
            f"model file {self.config.path} {what}{hint}; make the config match the model",
            key=key,
        )

    def _warm_up(self) -> None:
        specs = self.config.inputs
        if any(d is None for s in specs for d in s.sample_shape):
            log.info("model %s: no warm-up, a sample dimension is dynamic", self.ref)
            return
        for rows in dict.fromkeys((self.config.max_batch_size, 1)):
            feeds = {
                s.name: np.zeros(
                    (rows, *(d for d in s.sample_shape if d is not None)), self._dtypes[s.name]
                )
                for s in specs
            }
            try:
                self._session.run(self._output_names, feeds, self._run_options)
            except Exception as exc:
                log.warning("model %s: warm-up on zeros (batch %d) failed: %s", self.ref, rows, exc)
                return
