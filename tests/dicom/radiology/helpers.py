"""Running a radiology app in a test: start it, wait for results, stop it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from streamgale.dicom.radiology.pipeline import RadiologySettings
from streamgale.service import RadiologyService


@contextmanager
def running(settings: RadiologySettings) -> Iterator[RadiologyService]:
    """A started app (doors open), stopped and joined on exit."""
    app = RadiologyService(settings)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        assert app.ready.wait(30), "the radiology app did not start within 30 s"
        yield app
    finally:
        app.stop()
        thread.join(30)


def wait_for_results(app: RadiologyService, n: int, timeout: float = 60.0) -> None:
    """Wait until the app produced ``n`` results (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while len(app.summaries) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(app.summaries) >= n, f"only {len(app.summaries)} results after {timeout} s"
