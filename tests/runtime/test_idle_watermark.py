"""An idle source advances the watermark on a timer: windows close with no new event."""

from __future__ import annotations

import time
from typing import Any

from streamgale import (
    BuildContext,
    Pipeline,
    RuntimeConfig,
    Sink,
    SinkPartition,
    Source,
    SourcePartition,
)
from streamgale.windowing import Count, EventClock, TumblingWindow


class BurstThenSilence(Source[Any]):
    """Emits a few events at once, then nothing for ``silence`` seconds, then ends."""

    def __init__(self, events: list[dict[str, Any]], silence: float) -> None:
        self.events = events
        self.silence = silence

    def list_parts(self) -> list[str]:
        return ["0"]

    def build_part(self, ctx: BuildContext, part: str, resume_state: Any) -> SourcePartition[Any]:
        source = self

        class Part(SourcePartition[Any]):
            sent = False
            ends_at = 0.0

            def next_batch(self) -> list[dict[str, Any]]:
                if not self.sent:
                    self.sent = True
                    self.ends_at = time.monotonic() + source.silence
                    return source.events
                if time.monotonic() >= self.ends_at:
                    raise StopIteration
                return []

            def snapshot(self) -> None:
                return None

        return Part()


class TimedSink(Sink[Any]):
    def __init__(self, out: list[tuple[float, Any]]) -> None:
        self.out = out

    def build_part(self, ctx: BuildContext, part: str, resume_state: Any) -> SinkPartition[Any]:
        out = self.out

        class Part(SinkPartition[Any]):
            def write_batch(self, batch: Any) -> None:
                out.extend((time.monotonic(), row) for row in batch)

        return Part()


def test_window_closes_while_the_source_is_idle() -> None:
    # Event time is "now", as for a live feed: the idle watermark then tracks the clock.
    now = time.time()
    events = [{"k": "a", "t": now}, {"k": "a", "t": now + 0.1}]
    out: list[tuple[float, Any]] = []
    p = Pipeline("idle")
    (
        p.source("in", BurstThenSilence(events, silence=2.5))
        .key_by("k", "k")
        .window(TumblingWindow(1.0, align_to=now), EventClock("t", idle_timeout=0.3))
        .aggregate("n", n=Count())
        .results.sink("out", TimedSink(out))
    )
    started = time.monotonic()
    p.run(RuntimeConfig(handle_signals=False))
    ended = time.monotonic()
    assert [row["n"] for _, row in out] == [2]
    emitted_at = out[0][0]
    # Closed by the idle timer (about 1 s in), well before the source ended at 2.5 s.
    assert emitted_at - started < 2.0
    assert ended - emitted_at > 0.5
