"""The small config each model ships with: what it takes, what it gives, how to batch it.

A model config is a YAML file next to the ``.onnx`` file::

    name: lesion-classifier
    version: "1.2.0"
    path: lesion.onnx              # relative to this file
    task: classification           # classification | segmentation | detection
    description: Demo model trained on synthetic CT phantoms.
    inputs:
      - {name: image, shape: [-1, 1, 128, 128], dtype: float32}
    outputs: [probability]
    preprocessing:                 # passed to streamgale.dicom.pixels.PreprocessConfig
      voi: lung                    # or {center: -600, width: 1500}
      size: [128, 128]
      normalise: minmax            # none | minmax | zscore | {mean, std}
      spacing: [0.7, 0.7]
    labels: [lesion]
    thresholds: {lesion: 0.5}
    max_batch_size: 16
    max_wait_ms: 5

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "lesion.onnx").write_bytes(b"not read until a session loads it")
>>> _ = (folder / "lesion.yaml").write_text('''
... name: lesion-classifier
... version: "1.2.0"
... path: lesion.onnx
... task: classification
... inputs: [{name: image, shape: [-1, 1, 128, 128], dtype: float32}]
... outputs: [probability]
... preprocessing: {voi: lung, size: [128, 128]}
... labels: [lesion]
... thresholds: {lesion: 0.5}
... ''')
>>> config = load_model_config(folder / "lesion.yaml")
>>> config.ref, config.inputs[0].shape, config.max_batch_size, dict(config.preprocessing)
('lesion-classifier@1.2.0', (None, 1, 128, 128), 16, {'voi': 'lung', 'size': (128, 128)})
>>> _ = (folder / "bad.yaml").write_text("name: m\\nversion: '1'\\npath: lesion.onnx\\n"
...     "task: regression\\ninputs: [{name: x, shape: [-1, 3]}]\\noutputs: [y]\\n")
>>> load_model_config(folder / "bad.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
streamgale.errors.ConfigError: .../bad.yaml:4, key 'task': got 'regression'; allowed: \
classification, segmentation, detection
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from streamgale.config.document import Node, bare_message, join_key, parse_document
from streamgale.errors import ConfigError
from streamgale.inference import _checks as checks

__all__ = [
    "MODEL_KEYS",
    "TENSOR_KEYS",
    "ModelConfig",
    "Task",
    "TensorSpec",
    "load_model_config",
    "load_model_config_text",
    "model_config_from_node",
]

Task = Literal["classification", "segmentation", "detection"]

MODEL_KEYS = (
    "name",
    "version",
    "path",
    "task",
    "description",
    "inputs",
    "outputs",
    "preprocessing",
    "labels",
    "thresholds",
    "max_batch_size",
    "max_wait_ms",
)
_REQUIRED = ("name", "version", "path", "task", "inputs", "outputs")
TENSOR_KEYS = ("name", "shape", "dtype")


@dataclass(frozen=True)
class TensorSpec:
    """One model input: its name, shape (``None`` for a dynamic dimension) and dtype.

    >>> TensorSpec("image", (-1, 1, 64, 64)).shape
    (None, 1, 64, 64)
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        checks.check_text(self.name, "name", what="the model's input name")
        object.__setattr__(self, "shape", checks.check_shape(self.shape, "shape"))
        checks.check_choice(self.dtype, "dtype", checks.DTYPES)

    @property
    def sample_shape(self) -> tuple[int | None, ...]:
        """The shape of one sample: everything after the batch dimension."""
        return self.shape[1:]


@dataclass(frozen=True)
class ModelConfig:
    """A validated model config; see the module docstring for the YAML form.

    Build it from Python, from a mapping (:meth:`from_mapping`) or from a file
    (:func:`load_model_config`). ``preprocessing`` and ``thresholds`` are
    read-only mappings; ``path`` is absolute when loaded from a file.
    """

    name: str
    version: str
    path: Path
    task: Task
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[str, ...]
    preprocessing: Mapping[str, Any] = field(default_factory=dict, hash=False)
    labels: tuple[str, ...] = ()
    thresholds: Mapping[str, float] = field(default_factory=dict, hash=False)
    max_batch_size: int = 16
    max_wait_ms: float = 5.0
    description: str = ""

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise once, here
        checks.check_name(self.name, "name", what="a model name")
        put(self, "version", _check_version(self.version))
        if not isinstance(self.path, str | os.PathLike):
            checks.fail("path", f"expected the path of the .onnx file; got {self.path!r}")
        put(self, "path", Path(self.path))
        checks.check_choice(self.task, "task", checks.TASKS)
        put(self, "inputs", _check_inputs(self.inputs))
        put(self, "outputs", checks.check_names(self.outputs, "outputs", allow_empty=False))
        put(self, "preprocessing", checks.check_preprocessing(self.preprocessing, "preprocessing"))
        put(self, "labels", checks.check_names(self.labels, "labels", allow_empty=True))
        put(self, "thresholds", checks.check_thresholds(self.thresholds, "thresholds", self.labels))
        checks.check_int(self.max_batch_size, "max_batch_size", minimum=1, maximum=4096)
        put(
            self,
            "max_wait_ms",
            checks.check_number(self.max_wait_ms, "max_wait_ms", minimum=0.0, maximum=60_000.0),
        )
        if not isinstance(self.description, str):
            checks.fail("description", f"expected text; got {self.description!r}")

    @property
    def ref(self) -> str:
        """``name@version``: how registries, logs and results name this model."""
        return f"{self.name}@{self.version}"

    @property
    def max_wait(self) -> float:
        """``max_wait_ms`` in seconds (the clock's unit)."""
        return self.max_wait_ms / 1000.0

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, base_dir: str | os.PathLike[str] | None = None
    ) -> ModelConfig:
        """Build from plain values (parsed YAML or JSON); ``path`` is taken relative
        to ``base_dir`` when it is relative."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a model config is a mapping; got {type(data).__name__}")
        for name in data:
            if name not in MODEL_KEYS:
                checks.fail(name, f"unknown key '{name}'; allowed: {', '.join(MODEL_KEYS)}")
        for name in _REQUIRED:
            if name not in data:
                checks.fail(
                    name, f"missing required key '{name}'; required: {', '.join(_REQUIRED)}"
                )
        values = dict(data)
        values["inputs"] = _inputs_from(values["inputs"])
        path = values["path"]
        if isinstance(path, str | os.PathLike) and base_dir is not None:
            values["path"] = Path(base_dir) / Path(path).expanduser()
        return cls(**values)

    def to_dict(self, *, base_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Plain values for YAML or JSON; :meth:`from_mapping` reads them back.

        ``path`` is written relative to ``base_dir`` when it lies under it.
        """
        out = {f.name: checks.thaw(getattr(self, f.name)) for f in fields(self)}
        out["inputs"] = [
            {"name": s.name, "shape": [-1 if d is None else d for d in s.shape], "dtype": s.dtype}
            for s in self.inputs
        ]
        path = self.path
        if base_dir is not None and path.is_relative_to(base_dir):
            path = path.relative_to(base_dir)
        out["path"] = str(path)
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only mapping proxies cannot be pickled; rebuild from plain values.
        return (_rebuild, (self.to_dict(),))


def _rebuild(values: dict[str, Any]) -> ModelConfig:
    return ModelConfig.from_mapping(values)


def _check_version(value: object) -> str:
    if isinstance(value, bool | float):
        checks.fail(
            "version",
            f'got the number {value!r}; write the version as text, in quotes: version: "{value}"',
        )
    if isinstance(value, int):
        value = str(value)
    return checks.check_name(value, "version", what="a version")


def _inputs_from(value: object) -> object:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return value  # reported by _check_inputs
    specs: list[object] = []
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            key = f"inputs[{i}]"
            for name in item:
                if name not in TENSOR_KEYS:
                    checks.fail(
                        f"{key}.{name}", f"unknown key '{name}'; allowed: {', '.join(TENSOR_KEYS)}"
                    )
            for name in ("name", "shape"):
                if name not in item:
                    checks.fail(key, f"missing required key '{name}'")
            specs.append(_prefixed(key, lambda m=item: TensorSpec(**m)))
        else:
            specs.append(item)
    return specs


def _check_inputs(value: object) -> tuple[TensorSpec, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        checks.fail("inputs", f"expected a list of inputs {{name, shape, dtype}}; got {value!r}")
    names = set()
    for i, spec in enumerate(value):
        if not isinstance(spec, TensorSpec):
            checks.fail(f"inputs[{i}]", f"expected {{name, shape, dtype}}; got {spec!r}")
        if spec.name in names:
            checks.fail(f"inputs[{i}].name", f"input '{spec.name}' is listed twice")
        names.add(spec.name)
    return tuple(value)


def _prefixed(prefix: str, build: Any) -> Any:
    """Call ``build``; a ConfigError's key gets ``prefix`` in front."""
    try:
        return build()
    except ConfigError as exc:
        key = join_key(prefix, exc.key) if exc.key else prefix
        raise ConfigError(bare_message(exc), key=key) from None


# YAML -------------------------------------------------------------------------


def load_model_config(path: str | os.PathLike[str]) -> ModelConfig:
    """Load the model config file at ``path``; ``path:`` inside is relative to its folder.

    Raises :class:`ConfigError` naming the file, line and key of the first
    problem, and the allowed values where the choice is closed.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the model config: {reason}", source=file) from exc
    return load_model_config_text(text, str(file), base_dir=file.parent.absolute())


def load_model_config_text(
    text: str, source: str = "<model>", *, base_dir: str | os.PathLike[str] | None = None
) -> ModelConfig:
    """Load a model config from YAML ``text``; ``source`` names it in errors."""
    if not text.strip():
        raise ConfigError(
            f"the model config is empty; it needs at least {', '.join(_REQUIRED)}",
            source=source,
            line=1,
        )
    root = parse_document(text, source)
    return model_config_from_node(root, Path(base_dir) if base_dir is not None else Path.cwd())


def model_config_from_node(node: Node, base_dir: Path) -> ModelConfig:
    """Build a config from a parsed YAML node (a pipeline file's ``models:`` entry).

    Errors point at the line of the offending key; the ``.onnx`` file must exist.
    """
    if not isinstance(node.value, dict):
        node.fail("expected a model config mapping (name, version, path, ...)")
    try:
        config = ModelConfig.from_mapping(_plain(node), base_dir=base_dir)
    except ConfigError as exc:
        if exc.source is not None:
            raise
        key, line = _locate(node, exc.key)
        raise ConfigError(bare_message(exc), source=node.source, key=key, line=line) from None
    if not config.path.is_file():
        key, line = _locate(node, "path")
        raise ConfigError(
            f"model file {config.path} does not exist; 'path' is relative to the config's folder",
            source=node.source,
            key=key,
            line=line,
        )
    return config


def _plain(node: Node) -> Any:
    if isinstance(node.value, dict):
        return {k: _plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return [_plain(v) for v in node.value]
    return node.value


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _locate(root: Node, key: str | None) -> tuple[str | None, int]:
    """The full key path and the line of ``key`` (``inputs[0].dtype``) under ``root``.

    Falls back to the nearest enclosing value that exists (an unknown or
    missing key is reported at the line of its mapping's key).
    """
    if not key:
        return root.key or None, root.line
    node, line = root, root.line
    for name, index in _KEY_PART.findall(key):
        if name and isinstance(node.value, dict):
            line = node.key_lines.get(name, line)
            if name not in node.value:
                break
            node = node.value[name]
        elif index and isinstance(node.value, list) and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.line
        else:
            break
    return join_key(root.key, key) if root.key else key, line
