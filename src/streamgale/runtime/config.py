"""Configuration of the local runtime: one frozen, validated object."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streamgale.errors import ConfigError

__all__ = ["RuntimeConfig"]


@dataclass(frozen=True)
class RuntimeConfig:
    """How the local runtime runs a pipeline.

    ``state_dir`` makes the run durable: snapshots, dead letters and the
    private directories of connectors live there, and a restart with the same
    directory resumes where the last checkpoint left off. Without it the run
    keeps state in memory and a restart begins from scratch.

    >>> RuntimeConfig(checkpoint_interval=0)
    Traceback (most recent call last):
    ...
    streamgale.errors.ConfigError: key 'checkpoint_interval': must be > 0 seconds; got 0
    """

    state_dir: Path | None = None
    checkpoint_interval: float = 1.0
    """Seconds between consistent snapshots (and offset commits)."""
    checkpoint_drain: float = 0.25
    """Longest a checkpoint lets channels drain (seconds); batches still queued
    then are saved in the snapshot, so a checkpoint lands quickly even when a
    slow step holds a backlog, and a process killed every few seconds still
    makes progress."""
    channel_capacity: int = 8
    """Micro-batches a channel between two steps holds before backpressure."""
    idle_wait: float = 0.05
    """Longest sleep when nothing is ready; sources wake the runtime sooner."""
    sink_retries: int = 5
    """Attempts after the first before a batch goes to the dead-letter store."""
    sink_backoff: float = 0.05
    sink_backoff_max: float = 2.0
    metrics_port: int | None = None
    """Serve Prometheus metrics on 127.0.0.1:PORT (0 picks a free port)."""
    handle_signals: bool = True
    """Drain, commit and exit on SIGINT/SIGTERM (only on the main thread)."""
    max_run_seconds: float | None = field(default=None)
    """Stop (draining and committing) after this long; None runs to the end."""

    def __post_init__(self) -> None:
        _positive("checkpoint_interval", self.checkpoint_interval)
        if not isinstance(self.checkpoint_drain, int | float) or self.checkpoint_drain < 0:
            raise ConfigError(
                f"must be >= 0 seconds; got {self.checkpoint_drain!r}", key="checkpoint_drain"
            )
        _positive("idle_wait", self.idle_wait)
        _positive("sink_backoff", self.sink_backoff)
        _positive("sink_backoff_max", self.sink_backoff_max)
        if not isinstance(self.channel_capacity, int) or self.channel_capacity < 1:
            raise ConfigError(
                f"must be a whole number >= 1; got {self.channel_capacity!r}",
                key="channel_capacity",
            )
        if not isinstance(self.sink_retries, int) or self.sink_retries < 0:
            raise ConfigError(
                f"must be a whole number >= 0; got {self.sink_retries!r}", key="sink_retries"
            )
        if self.state_dir is not None and not isinstance(self.state_dir, Path):
            object.__setattr__(self, "state_dir", Path(self.state_dir))


def _positive(key: str, value: float) -> None:
    if not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"must be > 0 seconds; got {value!r}", key=key)
