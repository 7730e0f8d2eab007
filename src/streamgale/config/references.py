"""User functions named in YAML as ``"package.module:attribute"``.

A module next to the pipeline file can be named directly: when it cannot be
imported from ``sys.path``, the file's folder is added to ``sys.path`` (as
``python script.py`` does for the script's folder) and the import is tried
again, so worker processes with ``parallelism`` find it too.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamgale.config.document import Node

__all__ = ["is_reference", "resolve_function"]

_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_HINT = "write it as 'package.module:function'"


def is_reference(text: str) -> bool:
    """Whether ``text`` looks like ``module:attribute`` rather than a field name.

    >>> is_reference("mypackage.rules:is_hot"), is_reference("sensor")
    (True, False)
    """
    return bool(_REFERENCE.match(text))


def resolve_function(node: Node, base_dir: Path | None) -> Callable[..., Any]:
    """The callable that ``node`` (a ``"module:attribute"`` string) names."""
    text = node.string()
    if not is_reference(text):
        node.fail(f"'{text}' is not a function reference; {_HINT}")
    module_name, _, attribute = text.partition(":")
    module = _import(node, module_name, base_dir)
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            node.fail(
                f"cannot find '{attribute}' in module '{module_name}' ({module.__file__}); "
                f"it defines: {_public_names(module)}"
            )
        target = getattr(target, part)
    if not callable(target):
        node.fail(f"'{text}' is a {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def _import(node: Node, module_name: str, base_dir: Path | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not _is_missing(exc, module_name) or not _add_base_dir(module_name, base_dir):
            node.fail(_import_failure(module_name, exc, base_dir))
    except Exception as exc:
        node.fail(_import_failure(module_name, exc, base_dir))
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        node.fail(_import_failure(module_name, exc, base_dir))


def _is_missing(exc: ModuleNotFoundError, module_name: str) -> bool:
    # Only retry when the named module itself is missing, not a module it imports.
    name = exc.name
    return name is not None and (module_name == name or module_name.startswith(name + "."))


def _add_base_dir(module_name: str, base_dir: Path | None) -> bool:
    if base_dir is None:
        return False
    top = module_name.split(".", maxsplit=1)[0]
    if not ((base_dir / f"{top}.py").is_file() or (base_dir / top).is_dir()):
        return False
    folder = str(base_dir.resolve())
    if folder in sys.path:
        return False
    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    return True


def _import_failure(module_name: str, exc: BaseException, base_dir: Path | None) -> str:
    looked = f" (looked on sys.path and in {base_dir})" if base_dir is not None else ""
    return (
        f"cannot import module '{module_name}': {type(exc).__name__}: {exc}{looked}; "
        "check the module name and that its package is installed"
    )


def _public_names(module: Any) -> str:
    names = sorted(n for n in vars(module) if not n.startswith("_"))
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return shown or "nothing public"
