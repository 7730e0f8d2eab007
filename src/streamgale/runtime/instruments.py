"""The runtime's handle on its Prometheus metrics.

Keeps the hot path to one call per micro-batch: per-step handles and channel
gauges are looked up once and cached here.
"""

from __future__ import annotations

from typing import Any

from streamgale.metrics import MetricsServer, PipelineMetrics
from streamgale.runtime.graph import Channel

__all__ = ["RunMetrics"]


class RunMetrics:
    """Metrics of one run, served on ``port`` when one is given."""

    def __init__(self, pipeline: str, port: int | None) -> None:
        self.registry = PipelineMetrics(pipeline)
        self._steps: dict[str, Any] = {}
        self._channels: list[tuple[Channel, Any]] = []
        self.server = MetricsServer(self.registry, port=port) if port is not None else None

    def step(self, step_id: str) -> Any:
        handle = self._steps.get(step_id)
        if handle is None:
            handle = self._steps[step_id] = self.registry.step(step_id)
        return handle

    def channel(self, channel: Channel) -> None:
        self._channels.append((channel, self.registry.channel(channel.src, channel.dst)))

    def watermark(self, step_id: str, watermark: float) -> None:
        self.registry.watermark(step_id, watermark)

    def sample_channels(self) -> None:
        # Depths are sampled once per checkpoint (about every second), not on
        # every push, to keep gauge updates off the hot path.
        for channel, gauge in self._channels:
            gauge.set(channel.queued)

    def checkpoint(self, epoch: int, seconds: float) -> None:
        self.registry.checkpoint(epoch, seconds)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
