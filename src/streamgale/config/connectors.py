"""The ``sources:`` and ``sinks:`` sections: connector ``type`` plus its options.

The options of a type are the keyword arguments of its connector class in
:mod:`streamgale.connectors`, read from the constructor's signature, so the
file format follows the connectors without a second list to keep in sync.
The option's type hint decides how a YAML string is read: as a duration
(``"500ms"``) for a ``float``, relative to the file's folder for a path, by
value or name for an enum, and checked against the choices of a ``Literal``.
The column ``types`` of a CSV source are ``int``, ``float``, ``bool``, ``str``
or ``"module:function"``.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import os
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from streamgale.config.document import Node, bare_message
from streamgale.config.references import is_reference, resolve_function
from streamgale.errors import ConfigError

__all__ = ["SINK_TYPES", "SOURCE_TYPES", "build_connector"]

SOURCE_TYPES: dict[str, str] = {
    "jsonl": "JsonLinesSource",
    "csv": "CsvSource",
    "parquet": "ParquetSource",
    "directory": "DirectorySource",
    "http": "HttpSource",
    "log": "LogSource",
}
"""Source ``type`` -> class in :mod:`streamgale.connectors`."""

SINK_TYPES: dict[str, str] = {
    "jsonl": "JsonLinesSink",
    "csv": "CsvSink",
    "parquet": "ParquetSink",
    "stdout": "StdOutSink",
    "log": "LogSink",
}
"""Sink ``type`` -> class in :mod:`streamgale.connectors`."""

_PATH_OPTIONS = frozenset({"path", "directory"})
_BUILTIN_CONVERTERS: dict[str, Callable[..., Any]] = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
}


def build_connector(
    node: Node,
    type_table: dict[str, str],
    role: str,
    base_dir: Path,
    *,
    extra_keys: tuple[str, ...],
) -> Any:
    """Build the source or sink that ``node`` describes.

    ``role`` is ``"source"`` or ``"sink"`` (for messages); ``extra_keys`` are
    keys the caller reads itself (``from`` for sinks) and that are not
    passed to the constructor.
    """
    entries = node.mapping(required=("type",))
    type_node = entries["type"]
    cls = _connector_class(type_node, type_table, role)
    params = _parameters(cls)
    allowed = None if _takes_any_keyword(cls) else ("type", *extra_keys, *params)
    options = node.mapping(allowed=allowed)
    for name, param in params.items():
        if param.default is inspect.Parameter.empty and name not in options:
            node.fail(
                f"missing required key '{name}' for a {type_node.value} {role}; "
                f"its keys are: {', '.join(params)}"
            )
    hints = _hints(cls)
    kwargs = {
        name: _option_value(value, params.get(name), hints.get(name), base_dir)
        for name, value in options.items()
        if name not in ("type", *extra_keys)
    }
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        options.get(exc.key or "", node).fail(bare_message(exc))
    except (TypeError, ValueError, OSError) as exc:
        node.fail(f"cannot build the {type_node.value} {role}: {exc}")


def _connector_class(type_node: Node, type_table: dict[str, str], role: str) -> Any:
    name = type_node.string()
    known = ", ".join(type_table)
    if name not in type_table:
        type_node.fail(f"unknown {role} type '{name}'; allowed: {known}")
    module = importlib.import_module("streamgale.connectors")
    cls = getattr(module, type_table[name], None)
    if cls is None:
        type_node.fail(
            f"{role} type '{name}' is not available in this installation "
            f"(streamgale.connectors has no {type_table[name]})"
        )
    return cls


def _parameters(cls: Any) -> dict[str, inspect.Parameter]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    signature = inspect.signature(cls)
    return {n: p for n, p in signature.parameters.items() if p.kind in kinds}


def _takes_any_keyword(cls: Any) -> bool:
    # CsvSource(**options) forwards extra keys to CsvFormat, which checks them.
    kinds = [p.kind for p in inspect.signature(cls).parameters.values()]
    return inspect.Parameter.VAR_KEYWORD in kinds


def _hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:
        return {}  # names only imported for type checkers: fall back to the text


def _option_value(node: Node, param: inspect.Parameter | None, hint: Any, base_dir: Path) -> Any:
    if param is not None and param.name == "types" and isinstance(node.value, dict):
        return {column: _converter(child, base_dir) for column, child in node.value.items()}
    if not isinstance(node.value, str):
        return _plain(node)
    if hint is None:
        return _by_annotation_text(node, param, base_dir)
    members = _flatten(hint)
    if any(m is Path or m is os.PathLike or typing.get_origin(m) is os.PathLike for m in members):
        return node.path(base_dir)
    if float in members and str not in members:
        return node.duration()
    for member in members:
        if isinstance(member, type) and issubclass(member, enum.Enum):
            return _enum_value(node, member)
        if typing.get_origin(member) is typing.Literal and node.value not in member.__args__:
            node.fail(f"unknown value {node.value!r}; allowed: {_listed(member.__args__)}")
    return node.value


def _by_annotation_text(node: Node, param: inspect.Parameter | None, base_dir: Path) -> Any:
    # Without resolvable type hints, read the annotation as written.
    text = "" if param is None else str(param.annotation).replace(" ", "")
    if "Path" in text or (param is not None and param.name in _PATH_OPTIONS):
        return node.path(base_dir)
    if text in ("float", "float|None"):
        return node.duration()
    return node.value


def _converter(node: Node, base_dir: Path) -> Callable[..., Any]:
    """A CSV column type: ``int``, ``float``, ``bool``, ``str`` or ``"module:function"``."""
    text = node.string()
    if text in _BUILTIN_CONVERTERS:
        return _BUILTIN_CONVERTERS[text]
    if not is_reference(text):
        node.fail(
            f"unknown column type '{text}'; use {', '.join(_BUILTIN_CONVERTERS)} "
            "or a 'module:function'"
        )
    return resolve_function(node, base_dir)


def _flatten(hint: Any) -> list[Any]:
    """The members of a union (``X | None``), or ``[hint]``."""
    if hint is None:
        return []
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(hint) for m in _flatten(arg)]
    return [hint]


def _enum_value(node: Node, cls: type[enum.Enum]) -> enum.Enum:
    text = str(node.value)
    for member in cls:
        if text in (member.value, member.name) or text.upper() == member.name:
            return member
    node.fail(f"unknown value {text!r}; allowed: {_listed(m.value for m in cls)}")


def _listed(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)


def _plain(node: Node) -> Any:
    # Connectors take plain Python values, not Nodes.
    if isinstance(node.value, dict):
        return {name: _plain(child) for name, child in node.value.items()}
    if isinstance(node.value, list):
        return [_plain(child) for child in node.value]
    return node.value
