"""Several models side by side, each loaded once, looked up by ``name@version``.

>>> registry = ModelRegistry()
>>> len(registry), registry.refs()
(0, [])
>>> registry.get("lesion")
Traceback (most recent call last):
...
streamgale.errors.ConfigError: key 'model': no model 'lesion' is loaded; loaded: (none)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from streamgale.errors import ConfigError
from streamgale.inference.config import ModelConfig, load_model_config
from streamgale.inference.session import ModelSession

__all__ = ["ModelRegistry", "version_key"]


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders versions naturally: ``1.10`` after ``1.9``.

    >>> sorted(["1.10", "1.9", "2"], key=version_key)
    ['1.9', '1.10', '2']
    """
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


class ModelRegistry:
    """Model sessions by name and version; each model is loaded once, when added.

    Every session gets the same execution-provider choice and thread
    settings (see :class:`ModelSession`). Models share nothing else, so
    several can serve different routes at the same time.
    """

    def __init__(
        self,
        configs: Iterable[ModelConfig] = (),
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        spin_wait: bool = False,
        warm_up: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._providers = providers
        self._intra_op_threads = intra_op_threads
        self._spin_wait = spin_wait
        self._warm_up = warm_up
        self._environ = environ
        self._sessions: dict[tuple[str, str], ModelSession] = {}
        for config in configs:
            self.add(config)

    @classmethod
    def from_files(cls, paths: Iterable[str | os.PathLike[str]], **options: Any) -> ModelRegistry:
        """Load the model config files at ``paths`` (see :func:`load_model_config`);
        ``options`` are those of the constructor."""
        return cls((load_model_config(p) for p in paths), **options)

    def add(self, config: ModelConfig) -> ModelSession:
        """Load ``config``'s model and keep it; a second ``name@version`` is an error."""
        ident = (config.name, config.version)
        if ident in self._sessions:
            raise ConfigError(
                f"model {config.ref} is loaded already; give the new one another version",
                key="model",
            )
        session = ModelSession(
            config,
            providers=self._providers,
            intra_op_threads=self._intra_op_threads,
            spin_wait=self._spin_wait,
            warm_up=self._warm_up,
            environ=self._environ,
        )
        self._sessions[ident] = session
        return session

    def load(self, path: str | os.PathLike[str]) -> ModelSession:
        """Load the model config file at ``path`` and its model."""
        return self.add(load_model_config(path))

    def get(self, name: str, version: str | None = None) -> ModelSession:
        """The session of ``name`` at ``version``; without a version, the newest one
        (by :func:`version_key`). ``name`` may also be written ``name@version``.
        """
        if version is None and "@" in name:
            name, version = name.split("@", 1)
        if version is not None:
            session = self._sessions.get((name, str(version)))
            if session is not None:
                return session
        else:
            versions = [v for n, v in self._sessions if n == name]
            if versions:
                return self._sessions[(name, max(versions, key=version_key))]
        wanted = name if version is None else f"{name}@{version}"
        raise ConfigError(
            f"no model '{wanted}' is loaded; loaded: {', '.join(self.refs()) or '(none)'}",
            key="model",
        )

    def refs(self) -> list[str]:
        """``name@version`` of every loaded model, sorted."""
        return sorted(f"{n}@{v}" for n, v in self._sessions)

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str):
            return False
        try:
            self.get(ref)
        except ConfigError:
            return False
        return True

    def __iter__(self) -> Iterator[ModelSession]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)
