"""The ``window:`` and ``aggregate:`` keys of a step.

::

    window: {tumbling: 10s, time: ts, max_delay: 2s, allowed_lateness: 0s}
    window: {sliding: {length: 10s, every: 5s}, time: ts}
    window: {session: {gap: 30s}, time: ts}        # or session: 30s
    aggregate: {n: count, mean: mean(value), peak: max(value)}

``time`` (and the argument of an aggregation) is a field name or a
``"module:function"`` reference.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamgale.config.document import Node
from streamgale.config.references import is_reference, resolve_function

__all__ = ["AGGREGATIONS", "WINDOW_KINDS", "WindowSpec", "read_aggregations", "read_window"]

WINDOW_KINDS = ("tumbling", "sliding", "session")
_WINDOW_OPTIONS = ("time", "max_delay", "idle_timeout", "allowed_lateness")

AGGREGATIONS: dict[str, str] = {
    "count": "Count",
    "sum": "Sum",
    "min": "Min",
    "max": "Max",
    "mean": "Mean",
    "first": "First",
    "last": "Last",
}
"""Aggregation function in YAML -> class in :mod:`streamgale.windowing`."""

_CALL = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


@dataclass(frozen=True)
class WindowSpec:
    """What ``KeyedStream.window`` takes, read from a ``window:`` mapping."""

    windower: Any
    clock: Any
    allowed_lateness: float


def read_window(node: Node, base_dir: Path) -> WindowSpec:
    """Build the windower and event clock a ``window:`` mapping describes."""
    entries = node.mapping()
    kinds = [name for name in entries if name in WINDOW_KINDS]
    if not kinds:
        unknown = [name for name in entries if name not in _WINDOW_OPTIONS]
        if unknown:
            node.fail(
                f"unknown window kind '{unknown[0]}'; allowed: {', '.join(WINDOW_KINDS)}",
                line=node.key_lines[unknown[0]],
            )
        node.fail(f"missing the window kind; add one of: {', '.join(WINDOW_KINDS)}")
    if len(kinds) > 1:
        node.fail(f"a window has one kind; found {' and '.join(kinds)}")
    node.mapping(allowed=(kinds[0], *_WINDOW_OPTIONS), required=("time",))
    windowing = _windowing()
    kind_node = entries[kinds[0]]
    windower = kind_node.attempt(lambda: _windower(windowing, kinds[0], kind_node))
    clock_args: dict[str, Any] = {"time": _field_or_function(entries["time"], base_dir)}
    for option in ("max_delay", "idle_timeout"):
        if option in entries:
            clock_args[option] = entries[option].duration()
    clock = node.attempt(lambda: windowing.EventClock(**clock_args))
    lateness = entries["allowed_lateness"].duration() if "allowed_lateness" in entries else 0.0
    return WindowSpec(windower, clock, lateness)


def _windower(windowing: Any, kind: str, node: Node) -> Any:
    if kind == "sliding":
        entries = node.mapping(allowed=("length", "every"), required=("length", "every"))
        return windowing.SlidingWindow(entries["length"].duration(), entries["every"].duration())
    primary = "length" if kind == "tumbling" else "gap"
    if isinstance(node.value, dict):
        seconds = node.mapping(allowed=(primary,), required=(primary,))[primary].duration()
    else:
        seconds = node.duration()
    if kind == "tumbling":
        return windowing.TumblingWindow(seconds)
    return windowing.SessionWindow(seconds)


def read_aggregations(node: Node, base_dir: Path) -> dict[str, Any]:
    """``{output name: Aggregation}`` from an ``aggregate:`` mapping."""
    entries = node.mapping()
    if not entries:
        node.fail("needs at least one aggregation, for example: aggregate: {n: count}")
    return {name: _aggregation(spec, base_dir) for name, spec in entries.items()}


def _aggregation(node: Node, base_dir: Path) -> Any:
    text = node.string()
    match = _CALL.match(text)
    allowed = ", ".join(f"{name}(field)" for name in AGGREGATIONS if name != "count")
    usage = f"write count, or one of: {allowed}"
    if match is None:
        node.fail(f"cannot read aggregation '{text}'; {usage}")
    function, argument = match.groups()
    if function not in AGGREGATIONS:
        node.fail(f"unknown aggregation '{function}'; {usage}")
    cls = getattr(_windowing(), AGGREGATIONS[function])
    if function == "count":
        if argument:
            node.fail(f"count takes no field; got count({argument})")
        return node.attempt(cls)
    if not argument:
        node.fail(f"{function} needs a field to aggregate, for example {function}(value)")
    of = _field_or_function(Node(argument, node.source, node.key, node.line), base_dir)
    return node.attempt(lambda: cls(of))


def _field_or_function(node: Node, base_dir: Path) -> str | Callable[..., Any]:
    text = node.string()
    return resolve_function(node, base_dir) if is_reference(text) else text


def _windowing() -> Any:
    # Imported when a window is read, so loading a file without one stays light.
    return importlib.import_module("streamgale.windowing")
