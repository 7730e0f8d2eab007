"""Event-time windows, running aggregates and windowed joins, as step logic.

Everything here is a frozen configuration whose ``build(resume_state,
clock)`` returns a :class:`~streamgale.runtime.logic.StepLogic`, so it can be
driven and tested without a runtime:

* :class:`WindowAggregateConfig`: keyed aggregation over
  :class:`TumblingWindow`, :class:`SlidingWindow` or :class:`SessionWindow`,
  vectorised with numpy for columnar input;
* :class:`RunningAggregateConfig`: keyed aggregation without windows;
* :class:`WindowJoinConfig`: inner join of two streams per key and window.

Event time and watermarks come from an :class:`EventClock`; the
aggregations are :class:`Count`, :class:`Sum`, :class:`Min`, :class:`Max`,
:class:`Mean`, :class:`First`, :class:`Last` and :class:`Reduce`.
"""

from streamgale.windowing.aggregate import WindowAggregateConfig
from streamgale.windowing.aggregations import (
    Aggregation,
    Count,
    First,
    Last,
    Max,
    Mean,
    Min,
    Reduce,
    Sum,
)
from streamgale.windowing.clock import EventClock
from streamgale.windowing.join import WindowJoinConfig
from streamgale.windowing.running import RunningAggregateConfig
from streamgale.windowing.windows import (
    SessionWindow,
    SlidingWindow,
    TumblingWindow,
    Window,
    Windower,
)

__all__ = [
    "Aggregation",
    "Count",
    "EventClock",
    "First",
    "Last",
    "Max",
    "Mean",
    "Min",
    "Reduce",
    "RunningAggregateConfig",
    "SessionWindow",
    "SlidingWindow",
    "Sum",
    "TumblingWindow",
    "Window",
    "WindowAggregateConfig",
    "WindowJoinConfig",
    "Windower",
]
