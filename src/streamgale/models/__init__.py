"""Models that ship with StreamGale: one DEMO lesion model, and nothing for clinical use.

``demo_lesion/`` holds a tiny U-Net trained only on the synthetic CT phantoms
of :mod:`streamgale.dicom.synthetic` by ``tools/train_demo_model.py``: an ONNX
file, its ``model.yaml`` (the inference package's model config) and a model
card with its held-out metrics. It lets the pipeline, the demo and the
benchmarks run a real network end to end. It has never seen a real patient and
must not be used on one: users bring their own model, an ONNX file with a
``model.yaml`` of the same shape.

The files are package data, found with :mod:`importlib.resources`, so they
work from a source checkout and from an installed wheel alike.

>>> demo_model_path().name, demo_model_config_path().name
('model.onnx', 'model.yaml')
>>> demo_model_config_path().parent == demo_model_dir()
True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from streamgale.errors import ConfigError

__all__ = [
    "BUILTIN_CONFIGS",
    "DEMO_MODEL_NAME",
    "demo_model_config_path",
    "demo_model_dir",
    "demo_model_path",
]

DEMO_MODEL_NAME = "demo-lesion"
"""The ``name`` in the demo model's ``model.yaml``."""

_DEMO_DIR = "demo_lesion"


def demo_model_dir() -> Path:
    """The folder holding the demo model's ``model.onnx``, ``model.yaml`` and model card.

    Raises :class:`~streamgale.errors.ConfigError` if the package data is not on
    disk (a zipped install, or a wheel built without the package data).
    """
    folder = resources.files(__name__).joinpath(_DEMO_DIR)
    # ONNX Runtime needs a real file path; pip always installs wheels unzipped.
    if not isinstance(folder, Path) or not (folder / "model.onnx").is_file():
        message = (
            f"the demo model's files were not found at {folder}; "
            "reinstall StreamGale from a wheel or source checkout that includes "
            "streamgale/models/demo_lesion/ (package data), or point the route at your own model"
        )
        raise ConfigError(message, source=str(folder))
    return folder


def demo_model_path() -> Path:
    """Path of the demo model's ONNX file (``demo_lesion/model.onnx``)."""
    return demo_model_dir() / "model.onnx"


BUILTIN_CONFIGS = {
    DEMO_MODEL_NAME: "model.yaml",
    "demo-lesion-sensitive": "model-sensitive.yaml",
}
"""Built-in model names and their configs: the demo model, and the same network at a
more sensitive threshold (a second version to try A/B testing with)."""


def demo_model_config_path(name: str = DEMO_MODEL_NAME) -> Path:
    """Path of a built-in model's config (``demo_lesion/model.yaml`` by default); its
    ``path`` is relative to this file's folder.

    >>> demo_model_config_path("demo-lesion-sensitive").name
    'model-sensitive.yaml'
    """
    if name not in BUILTIN_CONFIGS:
        raise ConfigError(
            f"unknown built-in model {name!r}; built-in: {', '.join(BUILTIN_CONFIGS)}"
        )
    return demo_model_dir() / BUILTIN_CONFIGS[name]
