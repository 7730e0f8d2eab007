"""A YAML document as a tree of :class:`Node`, each knowing its key path and line.

The loader reads values through :class:`Node` so every error it raises can
say which file, which line and which key was wrong, and what is allowed
instead: ``pipeline.yaml:12, key 'steps[2].window': unknown window kind
'tumble'; allowed: tumbling, sliding, session``.

>>> doc = parse_document("a: 1\\nb: {c: 2s}\\n", "x.yaml")
>>> doc.mapping(allowed=("a", "b"))["b"].mapping(allowed=("c",))["c"].duration()
2.0
>>> doc.mapping(allowed=("a",))
Traceback (most recent call last):
...
streamgale.errors.ConfigError: x.yaml:2, key 'b': unknown key 'b'; allowed: a
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from streamgale.config.durations import parse_duration
from streamgale.errors import ConfigError

__all__ = ["Node", "bare_message", "join_key", "parse_document", "read_document"]

T = TypeVar("T")


def join_key(parent: str, child: str | int) -> str:
    """The key path of ``child`` under ``parent``: ``steps[2].window``."""
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else child


@dataclass(frozen=True)
class Node:
    """One YAML value with where it was written.

    ``value`` is a ``dict[str, Node]`` for a mapping, a ``list[Node]`` for a
    sequence, and the plain Python value for a scalar. ``key_lines`` gives,
    for a mapping, the line of each key (where an unknown key is reported).
    """

    value: Any
    source: str
    key: str
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)

    def fail(self, message: str, *, key: str | None = None, line: int | None = None) -> NoReturn:
        """Raise :class:`ConfigError` at this node (or at ``key``/``line`` when given)."""
        raise ConfigError(
            message,
            source=self.source,
            key=key if key is not None else (self.key or None),
            line=line if line is not None else self.line,
        )

    def attempt(self, build: Callable[[], T]) -> T:
        """Call ``build``; a :class:`ConfigError` from the API is raised again at this node.

        An error that already names its file (raised by another node) passes
        through unchanged; ``TypeError`` and ``ValueError`` become config errors.
        """
        try:
            return build()
        except ConfigError as exc:
            if exc.source is not None:
                raise
            self.fail(bare_message(exc))
        except (TypeError, ValueError) as exc:
            self.fail(str(exc))

    def mapping(
        self, *, allowed: Sequence[str] | None = None, required: Iterable[str] = ()
    ) -> dict[str, Node]:
        """The entries of a mapping, after checking its keys.

        ``allowed=None`` accepts any key (the mapping holds user names).
        An empty value (``runtime:`` with nothing after it) is an empty mapping.
        """
        if self.value is None:
            entries: dict[str, Node] = {}
        elif isinstance(self.value, dict):
            entries = self.value
        else:
            self.fail(f"expected a mapping (key: value lines); got {_kind(self.value)}")
        if allowed is not None:
            for name in entries:
                if name not in allowed:
                    self.fail(
                        f"unknown key '{name}'; allowed: {', '.join(allowed)}",
                        key=join_key(self.key, name),
                        line=self.key_lines.get(name, self.line),
                    )
        for name in required:
            if name not in entries:
                self.fail(f"missing required key '{name}'")
        return entries

    def sequence(self) -> list[Node]:
        """The items of a sequence (``- item`` lines or ``[a, b]``)."""
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            self.fail(f"expected a list; got {_kind(self.value)}")
        return self.value

    def string(self) -> str:
        """A non-empty string."""
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail(f"expected a non-empty string; got {_kind(self.value)}")
        return self.value

    def integer(self, *, minimum: int | None = None, maximum: int | None = None) -> int:
        """A whole number within the given bounds."""
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"expected a whole number; got {_kind(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            self.fail(f"expected a whole number {bounds}; got {value}")
        return value

    def duration(self) -> float:
        """A duration in seconds; see :func:`~streamgale.config.durations.parse_duration`."""
        try:
            return parse_duration(self.value)
        except ValueError as exc:
            self.fail(str(exc))

    def path(self, base_dir: Path) -> Path:
        """A path; a relative one is taken relative to ``base_dir`` (the file's folder)."""
        path = Path(self.string()).expanduser()
        return path if path.is_absolute() else base_dir / path


def bare_message(exc: ConfigError) -> str:
    """``exc``'s message without the ``file:line, key '...': `` prefix ConfigError adds.

    Used to re-raise an error of the API at the YAML line that caused it.
    """
    text = str(exc)
    prefix = f"key '{exc.key}': " if exc.key else ""
    if exc.source:
        location = exc.source if exc.line is None else f"{exc.source}:{exc.line}"
        prefix = f"{location}, {prefix}" if prefix else f"{location}: "
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


def read_document(path: Path) -> Node:
    """Read and parse the YAML file at ``path``; a file that cannot be read is a ConfigError.

    Every kind of StreamGale file (pipeline, radiology) is read through here,
    so they fail alike: ``x.yaml: cannot read the pipeline file: No such file or directory``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the pipeline file: {reason}", source=path) from exc
    return parse_document(text, str(path))


def parse_document(text: str, source: str) -> Node:
    """Parse YAML ``text`` into a :class:`Node` tree; ``source`` names it in errors."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        raise ConfigError(f"not valid YAML: {problem}", source=source, line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=source) from exc
    finally:
        loader.dispose()
    if root is None:
        raise ConfigError(
            "the file is empty; a pipeline needs at least 'pipeline', 'sources' and 'sinks' "
            "(or 'radiology:' for a radiology pipeline)",
            source=source,
            line=1,
        )
    return _convert(loader, root, source, "")


def _convert(loader: yaml.SafeLoader, node: yaml.Node, source: str, key: str) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        entries: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if not isinstance(name, str):
                raise ConfigError(
                    f"keys must be strings; got {_kind(name)}",
                    source=source,
                    key=key,
                    line=key_line,
                )
            child_key = join_key(key, name)
            if name in entries:
                raise ConfigError(
                    f"duplicate key '{name}' (first at line {key_lines[name]}); remove one of them",
                    source=source,
                    key=child_key,
                    line=key_line,
                )
            entries[name] = _convert(loader, value_node, source, child_key)
            key_lines[name] = key_line
        return Node(entries, source, key, line, key_lines)
    if isinstance(node, yaml.SequenceNode):
        items = [
            _convert(loader, item, source, join_key(key, i)) for i, item in enumerate(node.value)
        ]
        return Node(items, source, key, line)
    return Node(loader.construct_object(node, deep=True), source, key, line)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
