"""DeliveryManager end to end: storescp peers, a dead port, and our own STOW-RS server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamgale.dicom.delivery import (
    DeliveryManager,
    Destination,
    DimseDestination,
    QueueState,
    StowDestination,
)
from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.synthetic import ct_series
from streamgale.dicom.web import StowServer, instance_bytes
from streamgale.errors import ConfigError
from streamgale.log import MemoryLog
from tests.dicom.delivery.conftest import StoreSCP, free_port
from tests.dicom.web.helpers import bundled_bytes

BACKOFF, MAX_BACKOFF = 0.05, 0.2


def results(count: int) -> list[tuple[str, list[bytes]]]:
    """``count`` results of two instances each, keyed like result ids."""
    slices = ct_series(slices=2 * count, size=32, seed=31)
    return [
        (f"result-{n}", [instance_bytes(slices[2 * n]), instance_bytes(slices[2 * n + 1])])
        for n in range(count)
    ]


def uids(batch: list[tuple[str, list[bytes]]]) -> set[str]:
    import io

    import pydicom

    return {
        str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)
        for _, items in batch
        for data in items
    }


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def stow_store(tmp_path: Path) -> Iterator[InstanceStore]:
    store = InstanceStore(tmp_path / "stow-store", MemoryLog())
    yield store
    store.close()


def test_a_dead_destination_blocks_nobody_and_drains_later(
    tmp_path: Path, storescp_factory: Callable[..., StoreSCP], stow_store: InstanceStore
) -> None:
    good_scp = storescp_factory(name="good")
    dead_port = free_port()
    batch = results(4)
    with StowServer(stow_store) as web:
        destinations: list[Destination] = [
            DimseDestination("good", "127.0.0.1", good_scp.port, "PACS", timeout=5),
            DimseDestination("bad", "127.0.0.1", dead_port, "PACS", timeout=5),
            StowDestination("web", web.url, timeout=5),
        ]
        with DeliveryManager(
            tmp_path / "queues", destinations, backoff=BACKOFF, max_backoff=MAX_BACKOFF
        ) as manager:
            manager.start()
            started = time.monotonic()
            for key, items in batch:
                assert manager.enqueue_all(items, key) == {"good": True, "bad": True, "web": True}
            assert time.monotonic() - started < 2.0  # enqueue never waits for a destination
            assert manager.queues["good"].wait_idle(20)
            assert manager.queues["web"].wait_idle(20)
            assert set(good_scp.received()) == uids(batch)
            assert {uid for uid in uids(batch) if stow_store.get(uid)} == uids(batch)

            wait_for(lambda: manager.state()["bad"]["attempts"] >= 3)  # still retrying
            bad: QueueState = manager.state()["bad"]
            assert bad["pending"] == 4 and bad["delivered"] == 0
            assert bad["next_attempt_in"] is not None and bad["next_attempt_in"] <= 0.2
            assert "cannot be reached" in (bad["last_error"] or "")
            assert manager.backlog() == {"good": 0, "bad": 4, "web": 0}

        # A restart keeps the dead destination's backlog and its retry count.
        with DeliveryManager(
            tmp_path / "queues", destinations, backoff=BACKOFF, max_backoff=MAX_BACKOFF
        ) as manager:
            assert manager.backlog() == {"good": 0, "bad": 4, "web": 0}
            assert manager.queues["bad"].pending_keys() == [key for key, _ in batch]
            assert manager.state()["bad"]["attempts"] >= 3
            revived = storescp_factory(port=dead_port, name="revived")
            manager.start()
            assert manager.wait_idle(20)
            assert set(revived.received()) == uids(batch)
            assert manager.state()["bad"]["delivered"] == 4
            # Re-enqueueing a delivered result (a replay after a crash) sends nothing twice.
            assert manager.enqueue_all(batch[0][1], batch[0][0]) == {
                "good": False,
                "bad": False,
                "web": False,
            }


def test_route_specific_destinations_and_sr_delivery(tmp_path: Path, storescp: StoreSCP) -> None:
    destinations = [
        DimseDestination("pacs", "127.0.0.1", storescp.port, "PACS"),
        DimseDestination("unused", "127.0.0.1", free_port(), "PACS"),
    ]
    sr = bundled_bytes("test-SR.dcm")
    with DeliveryManager(
        tmp_path, destinations, backoff=BACKOFF, max_backoff=MAX_BACKOFF
    ) as manager:
        assert manager.enqueue(["pacs"], [sr], key="sr-1") == {"pacs": True}
        manager.start()
        assert manager.queues["pacs"].wait_idle(20)
        assert manager.backlog() == {"pacs": 0, "unused": 0}
        (received,) = storescp.received().values()
        assert received.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
        with pytest.raises(ConfigError, match="unknown destination"):
            manager.enqueue(["nowhere"], [sr], key="sr-2")


def test_duplicate_destination_names_are_refused(tmp_path: Path) -> None:
    twice = [StowDestination("a", "http://h/x"), StowDestination("a", "http://h/y")]
    with pytest.raises(ConfigError, match="unique"):
        DeliveryManager(tmp_path, twice)
