"""The ``runtime:`` section of a pipeline file, plus overrides, as a :class:`RuntimeConfig`.

Precedence, highest first: overrides (the CLI fills them from its options and
their ``STREAMGALE_*`` environment variables), the file, the defaults of
:class:`~streamgale.runtime.config.RuntimeConfig`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from streamgale.config.document import Node, bare_message, join_key
from streamgale.config.durations import parse_duration
from streamgale.errors import ConfigError
from streamgale.runtime.config import RuntimeConfig

__all__ = ["DEFAULT_STATE_DIR", "RUNTIME_KEYS", "build_runtime_config", "read_runtime_values"]

_PORT_MAX = 65535

DEFAULT_STATE_DIR = Path(".streamgale")
"""The one default state directory: a radiology file without ``state_dir``
keeps its state here, and every command that reads state (results,
quarantine, dlq, sql, report, lake, dashboard) looks here unless told."""


def _duration(node: Node, base_dir: Path) -> float | None:
    return None if node.value is None else node.duration()


def _path(node: Node, base_dir: Path) -> Path:
    return node.path(base_dir)


def _count(node: Node, base_dir: Path) -> int:
    return node.integer(minimum=0)


def _port(node: Node, base_dir: Path) -> int | None:
    return None if node.value is None else node.integer(minimum=0, maximum=_PORT_MAX)


_READERS: dict[str, Callable[[Node, Path], Any]] = {
    "state_dir": _path,
    "checkpoint_interval": _duration,
    "metrics_port": _port,
    "max_run_seconds": _duration,
    "channel_capacity": _count,
    "idle_wait": _duration,
    "sink_retries": _count,
    "sink_backoff": _duration,
    "sink_backoff_max": _duration,
}

RUNTIME_KEYS: tuple[str, ...] = tuple(_READERS)
"""Keys of the ``runtime:`` section, which are also the keys overrides may set."""


def build_runtime_config(
    section: Node | None, base_dir: Path, overrides: Mapping[str, object] | None
) -> RuntimeConfig:
    """Read the ``runtime:`` section, apply ``overrides`` and validate the result.

    Overrides whose value is ``None`` are ignored (an option that was not given).
    """
    values: dict[str, Any] = {}
    nodes: dict[str, Node] = {}
    if section is not None:
        nodes = section.mapping(allowed=RUNTIME_KEYS)
        values = {name: _READERS[name](node, base_dir) for name, node in nodes.items()}
    overridden = _read_overrides(overrides or {})
    values.update(overridden)
    try:
        return RuntimeConfig(**values)
    except ConfigError as exc:
        name = exc.key or ""
        message = bare_message(exc)
        if name in overridden or name not in nodes:
            raise ConfigError(message, source="runtime override", key=name or None) from exc
        node = nodes[name]
        raise ConfigError(
            message, source=node.source, key=join_key("runtime", name), line=node.line
        ) from exc


def read_runtime_values(
    entries: Mapping[str, Node],
    base_dir: Path,
    overrides: Mapping[str, object] | None,
    *,
    keys: tuple[str, ...],
) -> dict[str, Any]:
    """The runtime ``keys`` a file sets in ``entries``, with ``overrides`` applied.

    For files that keep runtime settings beside other keys (a radiology file
    has ``state_dir`` and ``checkpoint_interval`` at its top level): they are
    read, and overridden, exactly as a pipeline file's ``runtime:`` section.
    Keys neither the file nor an override sets are left out.
    """
    values = {name: _READERS[name](entries[name], base_dir) for name in keys if name in entries}
    values.update(_read_overrides({k: v for k, v in (overrides or {}).items() if k in keys}))
    return values


def _read_overrides(overrides: Mapping[str, object]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in _READERS:
            raise ConfigError(
                f"unknown runtime setting; allowed: {', '.join(RUNTIME_KEYS)}",
                source="runtime override",
                key=name,
            )
        values[name] = _override_value(name, value)
    return values


def _override_value(name: str, value: object) -> Any:
    if name == "state_dir":
        return Path(str(value)).expanduser()
    reader = _READERS[name]
    if reader is _duration and isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ConfigError(str(exc), source="runtime override", key=name) from exc
    return value
