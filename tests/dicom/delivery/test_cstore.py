"""The C-STORE SCU against real peers: dcmtk's storescp and a pynetdicom SCP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pynetdicom import AE, evt

from streamgale.dicom.delivery import DimseDestination, c_store
from streamgale.dicom.synthetic import ct_series
from streamgale.dicom.web import instance_bytes
from streamgale.errors import DeliveryError
from tests.dicom.delivery.conftest import StoreSCP, free_port
from tests.dicom.web.helpers import bundled_bytes


def to(scp_port: int, ae_title: str = "PACS", **kwargs: object) -> DimseDestination:
    return DimseDestination("pacs", "127.0.0.1", scp_port, ae_title, **kwargs)  # type: ignore[arg-type]


def test_sends_ct_and_sr_over_one_association(storescp: StoreSCP) -> None:
    series = ct_series(slices=3, size=64, seed=21)
    sr = bundled_bytes("test-SR.dcm")
    statuses = c_store(to(storescp.port), [*series, sr])  # Datasets and bytes alike
    assert statuses == [0, 0, 0, 0]
    received = storescp.received()
    assert set(received) == {ds.SOPInstanceUID for ds in series} | {
        "1.2.276.0.7230010.3.1.4.2139363186.7819.982086466.4"
    }
    for ds in series:
        assert received[ds.SOPInstanceUID].PixelData == ds.PixelData


def test_resend_is_idempotent_at_the_peer(storescp: StoreSCP) -> None:
    series = [instance_bytes(ds) for ds in ct_series(slices=2, size=32, seed=22)]
    c_store(to(storescp.port), series)
    c_store(to(storescp.port), series)
    assert len(storescp.received()) == 2  # one file per SOP Instance UID


def test_unreachable_peer_raises_delivery_error() -> None:
    with pytest.raises(DeliveryError, match="cannot be reached"):
        c_store(to(free_port(), timeout=3), [instance_bytes(ct_series(slices=1, size=16)[0])])


def test_transfer_syntax_the_peer_refuses(storescp: StoreSCP) -> None:
    # storescp accepts only uncompressed syntaxes unless started with +xa.
    with pytest.raises(DeliveryError, match=r"accepts none.*1\.2\.840\.10008\.1\.2\.4\.91"):
        c_store(to(storescp.port), [bundled_bytes("JPEG2000.dcm")])


def test_unreadable_result_is_a_delivery_error(storescp: StoreSCP) -> None:
    with pytest.raises(DeliveryError, match="not a readable DICOM file"):
        c_store(to(storescp.port), [b"not dicom"])


@pytest.fixture
def pynetdicom_scp() -> Iterator[Callable[[int], int]]:
    """Starts an SCP (called AE 'PEER' required) answering every C-STORE with a status."""
    servers = []

    def start(status: int) -> int:
        ae = AE(ae_title="PEER")
        ae.require_called_aet = True
        ae.add_supported_context("1.2.840.10008.5.1.4.1.1.2")  # CT Image Storage
        handlers: list[Any] = [(evt.EVT_C_STORE, lambda event: status)]
        server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        assert server is not None
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()


def test_warning_statuses_count_as_stored(pynetdicom_scp: Callable[[int], int]) -> None:
    port = pynetdicom_scp(0xB000)  # coercion of data elements: stored
    assert c_store(to(port, "PEER"), ct_series(slices=2, size=16, seed=23)) == [0xB000, 0xB000]


def test_failure_status_raises_with_the_status(pynetdicom_scp: Callable[[int], int]) -> None:
    port = pynetdicom_scp(0xA700)  # out of resources
    with pytest.raises(DeliveryError, match=r"C-STORE status 0xA700 \(Failure"):
        c_store(to(port, "PEER"), ct_series(slices=1, size=16, seed=24))


def test_rejected_association_names_the_ae_titles(pynetdicom_scp: Callable[[int], int]) -> None:
    port = pynetdicom_scp(0x0000)
    with pytest.raises(DeliveryError, match="rejected the association from STREAMGALE"):
        c_store(to(port, "NOT-PEER"), ct_series(slices=1, size=16, seed=25))
