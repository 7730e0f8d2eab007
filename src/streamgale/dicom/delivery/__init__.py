"""Result delivery to PACS destinations, each behind its own durable queue.

* :mod:`~streamgale.dicom.delivery.destinations`: destination configurations
  (:class:`DimseDestination`, :class:`StowDestination`) and their senders;
* :mod:`~streamgale.dicom.delivery.cstore`: the C-STORE SCU;
* :mod:`~streamgale.dicom.delivery.queue`: :class:`DeliveryQueue`, SQLite-backed,
  with retries and capped exponential backoff that survive a restart;
* :mod:`~streamgale.dicom.delivery.manager`: :class:`DeliveryManager`, one
  queue per destination.

A destination that is down grows its own backlog and blocks neither the
other destinations nor the pipeline.
"""

from streamgale.dicom.delivery.cstore import c_store
from streamgale.dicom.delivery.destinations import (
    Destination,
    DimseDestination,
    Sender,
    StowDestination,
    sender_for,
)
from streamgale.dicom.delivery.manager import DeliveryManager
from streamgale.dicom.delivery.queue import DeliveryQueue, QueueState, WallClock

__all__ = [
    "DeliveryManager",
    "DeliveryQueue",
    "Destination",
    "DimseDestination",
    "QueueState",
    "Sender",
    "StowDestination",
    "WallClock",
    "c_store",
    "sender_for",
]
