"""Hostile input through both doors of a running service, as an outside checker sends it.

One service is started for the module. dcmtk ``storescu`` (DIMSE) and raw
HTTP STOW-RS requests send every case of :mod:`tests.dicom.quality.hostile`,
each in a study of its own, between two good studies. Every input must then
end in exactly one state (PS "nothing lost"): processed (a result for its
own study), quarantined with a reason, or refused to its sender (a DIMSE
failure status, a STOW-RS failure with its reason). The service must stay
up, its memory bounded, and the good studies must still get their results.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from streamgale.deadletter.store import stored_counts
from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.quality import ValidationLimits, peek_uids
from streamgale.dicom.radiology.pipeline import RadiologySettings, StowSettings
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import write_instances
from streamgale.inference import load_model_config
from streamgale.service import RadiologyService
from tests.dicom.quality.helpers import BUNDLED_DIR, bundled_files
from tests.dicom.quality.hostile import (
    ANY_END,
    CASES,
    NOT_SENT,
    PROCESSED,
    QUARANTINED,
    REFUSED,
    HostileCase,
    good_study,
    instance_uids,
)
from tests.dicom.radiology.helpers import running, storescu
from tests.inference.onnx_models import segmenter

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DOORS = ("dimse", "stow")
SERVICE_MAX_BYTES = 48 << 20
"""Over the largest case sent (33 MiB), under what the deflate bomb inflates to (64 MiB)."""
_BOUNDARY = "hostile-boundary"
_MAX_ANSWER_SECONDS = 10.0
"""A door's answer to one instance, sender process start included (~0.1 s when idle)."""
_MAX_RSS_GROWTH_MIB = 400
"""Peak RSS growth allowed while the cases are handled: the largest case is 33 MiB
on the wire; a 65535 x 65535 or 10^6-frame allocation would be gigabytes."""


@dataclass
class Sent:
    """One case sent through one door, and what the door answered."""

    case: HostileCase
    door: str
    sop_instance_uid: str | None
    study_instance_uid: str | None
    refused: bool
    answer: str
    seconds: float
    states: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)


@dataclass
class Run:
    sent: dict[tuple[str, str], Sent]
    good_studies: list[str]
    rss_growth_mib: float
    service: RadiologyService
    state_dir: Path


_PROPOSE = {
    JPEGBaseline8Bit: "-xy",
    JPEG2000Lossless: "-xv",
    JPEGLSLossless: "-xt",
    RLELossless: "-xr",
    DeflatedExplicitVRLittleEndian: "-xd",
}
"""storescu's option to propose a compressed transfer syntax (it would transcode otherwise)."""


def _send_dimse(port: int, path: Path) -> tuple[bool, str]:
    """(refused, what storescu said), the file sent in its own transfer syntax."""
    meta, _ = _split_part10(path.read_bytes())
    propose = _PROPOSE.get(meta.get("TransferSyntaxUID"), "-x=")
    done = subprocess.run(
        [storescu(), "-v", "-R", propose, "-aec", "STREAMGALE", "127.0.0.1", str(port), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    said = done.stdout + done.stderr
    if "Sending Store Request" not in said:  # storescu refused to send it, not the service
        pytest.fail(f"storescu could not send {path.name}; give its case dimse=False:\n{said}")
    stored = done.returncode == 0 and "Received Store Response (Success)" in said
    return not stored, said


def _send_raw_dimse(port: int, data: bytes, path: Path) -> tuple[bool, str]:
    """(refused, status): the data set sent unparsed by stock pynetdicom (raw_scu)."""
    meta, body = _split_part10(data)
    sop = peek_uids(data)[0] or meta.get("MediaStorageSOPInstanceUID") or "2.25.1"
    sop_class = meta.get("MediaStorageSOPClassUID") or CTImageStorage
    syntax = meta.get("TransferSyntaxUID") or ExplicitVRLittleEndian
    path.write_bytes(body)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.dicom.radiology.raw_scu",
            str(port),
            sop_class,
            sop,
            syntax,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    status = done.stdout.strip()
    assert done.returncode == 0 and status, done.stderr[-2000:]
    return not status.startswith("0000"), f"C-STORE status {status}"


def _split_part10(data: bytes) -> tuple[Any, bytes]:
    """(File Meta, data set bytes) of a Part 10 file; no meta and all the bytes otherwise."""
    if data[128:132] == b"DICM":
        start = 132
    elif data[:2] == b"\x02\x00":  # the builders write the File Meta without a preamble
        start = 0
    else:
        return {}, data
    source = DicomBytesIO(data)
    source.seek(start)
    try:
        meta = _read_file_meta_info(source)
    except Exception:  # a meta group cut short: send what follows the prefix
        return {}, data[start:]
    return meta, data[source.tell() :]


def _post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _multipart(*parts: bytes, boundary: str = _BOUNDARY) -> bytes:
    chunks = [
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
        for part in parts
    ]
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


_MULTIPART_DICOM = f'multipart/related; type="application/dicom"; boundary={_BOUNDARY}'


def _send_stow(url: str, data: bytes) -> tuple[bool, str]:
    status, body = _post(f"{url}/studies", _multipart(data), _MULTIPART_DICOM)
    answer = json.loads(body)
    return status != 200 or "0008119A" in answer, f"{status} {body[:600]!r}"


def _send_good(port: int, folder: Path, seed: str) -> str:
    study = good_study(seed)
    files = write_instances(study, folder / seed)
    for path in files:
        refused, said = _send_dimse(port, path)
        assert not refused, said
    return str(study[0].StudyInstanceUID)


class _RssSampler:
    """The highest resident set size of this process (the service runs in it) while in use,
    sampled every 20 ms: ``ru_maxrss`` would keep the peak of earlier tests."""

    def __init__(self) -> None:
        self.baseline_mib = self.peak_mib = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mib = max(self.peak_mib, _rss_mib())


def _rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / (1 << 20)


def _settle(service: RadiologyService, sent: dict[tuple[str, str], Sent], goods: list[str]) -> None:
    """Wait (bounded) until the good studies have results and every stored case has ended."""
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        _observe(service, sent)
        done = {s.study_instance_uid for s in service.summaries}
        stored = [s for s in sent.values() if not s.refused and s.sop_instance_uid]
        if all(g in done for g in goods) and all(s.states for s in stored):
            time.sleep(1.0)  # anything still to come (a second state) comes now
            break
        time.sleep(0.2)
    _observe(service, sent)


def _observe(service: RadiologyService, sent: dict[tuple[str, str], Sent]) -> None:
    """Each input's states, from the door's answer, the quarantine and the results."""
    # By SOP Instance UID: each case's UID is its own.
    quarantined: dict[str | None, list[str]] = {}
    for entry in service.quarantine.list(status="quarantined", limit=10_000):
        quarantined.setdefault(entry.sop_instance_uid, []).append(entry.reason)
    processed = {
        (sop, summary.study_instance_uid)
        for summary in list(service.summaries)
        for sop in summary.sop_instance_uids
    }
    for item in sent.values():
        item.states = {REFUSED} if item.refused else set()
        reasons = quarantined.get(item.sop_instance_uid, [])
        if reasons and item.sop_instance_uid:
            item.states.add(QUARANTINED)
            item.reasons = reasons
        if (item.sop_instance_uid, item.study_instance_uid) in processed:
            item.states.add(PROCESSED)


def _settings(tmp: Path, route: Route) -> RadiologySettings:
    model = load_model_config(
        segmenter(
            tmp,
            size=32,
            preprocessing={"voi": "lung", "size": [32, 32]},
            thresholds={"organ": 0.5},
        )
    )
    return RadiologySettings(
        state_dir=tmp / "state",
        models=(model,),
        routes=(route,),
        dimse=ScpConfig(port=0),
        stow=StowSettings(port=0),
        quiet_seconds=0.5,
        checkpoint_interval=0.2,
        telemetry=False,
        limits=ValidationLimits(max_bytes=SERVICE_MAX_BYTES),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("hostile")
    settings = _settings(tmp, Route("ct", modalities=frozenset({"CT"}), models=("organs",)))
    with running(settings) as service:
        assert service.scp is not None and service.stow is not None
        port, url = service.scp.port, service.stow.url
        goods = [_send_good(port, tmp, "good-before")]
        sent: dict[tuple[str, str], Sent] = {}
        with _RssSampler() as rss:
            _send_cases(tmp, port, url, sent)
            goods.append(_send_good(port, tmp, "good-after"))
            _settle(service, sent, goods)
        yield Run(sent, goods, rss.peak_mib - rss.baseline_mib, service, settings.state_dir)


def _send_cases(tmp: Path, port: int, url: str, sent: dict[tuple[str, str], Sent]) -> None:
    """Every case through both doors, one at a time, each answer noted in ``sent``."""
    for case in CASES:
        for door in DOORS:
            seed = f"{case.name}-{door}"
            data = case.build(seed)
            # What the bytes say; what they were built with where pydicom cannot read them.
            sop, study = peek_uids(data)
            if sop is None and study is None and case.ends != NOT_SENT:
                sop, study = instance_uids(seed)
            path = tmp / "cases" / f"{case.name}-{door}.dcm"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            started = time.monotonic()
            if door == "stow":
                refused, answer = _send_stow(url, data)
            elif case.dimse:
                refused, answer = _send_dimse(port, path)
            else:
                refused, answer = _send_raw_dimse(port, data, path.with_suffix(".raw"))
            took = time.monotonic() - started
            sent[(case.name, door)] = Sent(case, door, sop, study, refused, answer, took)


_PARAMS = [
    pytest.param(case.name, door, id=f"{case.name}-{door}") for case in CASES for door in DOORS
]


@pytest.mark.parametrize(("name", "door"), _PARAMS)
def test_each_hostile_input_ends_in_exactly_one_allowed_state(
    run: Run, name: str, door: str
) -> None:
    item = run.sent[(name, door)]
    assert len(item.states) == 1, (
        f"{name} via {door} ended in {sorted(item.states) or 'no state'}: "
        f"answer {item.answer[-600:]}"
    )
    # The door answers at once: no hostile input makes the sender wait on decoding.
    assert item.seconds < _MAX_ANSWER_SECONDS, f"{name} via {door} took {item.seconds:.1f} s"
    [state] = item.states
    assert state in item.case.ends, f"{name} via {door} was {state}: {item.reasons or item.answer}"
    if state == QUARANTINED:
        assert all(len(reason) > 20 for reason in item.reasons), item.reasons
        assert all(item.case.reason in reason for reason in item.reasons), item.reasons
    if state == REFUSED and (door == "stow" or not item.case.dimse):
        assert item.case.reason in item.answer, item.answer
    if state == REFUSED and door == "stow":
        assert '"00091001"' in item.answer, f"a refusal names its reason: {item.answer}"
    if state == REFUSED and door == "dimse" and not item.case.dimse:
        # C000 and an Error Comment (0000,0902) saying why (storescu does not print it).
        assert len(item.answer) > len("C-STORE status C000") + 20, item.answer


def test_good_studies_around_hostile_input_get_their_results(run: Run) -> None:
    done = {summary.study_instance_uid for summary in run.service.summaries}
    assert set(run.good_studies) <= done


def test_memory_stays_bounded_and_the_service_stays_up(run: Run) -> None:
    assert run.rss_growth_mib < _MAX_RSS_GROWTH_MIB, f"peak RSS grew {run.rss_growth_mib:.0f} MiB"
    assert run.service.stow is not None
    with urllib.request.urlopen(f"{run.service.stow.url}/healthz", timeout=5) as response:
        assert response.status == 200
    assert stored_counts(run.state_dir / "runtime" / "deadletters.sqlite") == {}


def test_nothing_is_quarantined_without_an_instance_to_name(run: Run) -> None:
    nameless = [e for e in run.service.quarantine.list(limit=10_000) if not e.sop_instance_uid]
    assert nameless == []


def test_quarantine_list_command_shows_every_quarantined_case(run: Run) -> None:
    shown = subprocess.run(
        [
            str(Path(".venv/bin/streamgale").resolve()),
            "quarantine",
            "list",
            "--json",
            "--limit",
            "1000",
            "--state-dir",
            str(run.state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = {(e["sop_instance_uid"], e["reason"]) for e in json.loads(shown.stdout)}
    expected = {
        (s.sop_instance_uid, reason)
        for s in run.sent.values()
        if QUARANTINED in s.states
        for reason in s.reasons
    }
    assert expected and expected <= listed


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        pytest.param(
            _multipart(b"x" * 200, boundary="other"), _MULTIPART_DICOM, 400, id="bad-boundary"
        ),
        pytest.param(b"--" + _BOUNDARY.encode(), _MULTIPART_DICOM, 400, id="unterminated"),
        pytest.param(_multipart(b"{}"), "application/json", 415, id="json-content-type"),
        pytest.param(
            _multipart(b"{}"), "multipart/related; type=application/json", 415, id="wrong-type"
        ),
        pytest.param(_multipart(b"x"), "multipart/related", 400, id="no-boundary"),
        pytest.param(b"", _MULTIPART_DICOM, 400, id="empty-body"),
        pytest.param(f"--{_BOUNDARY}--\r\n".encode(), _MULTIPART_DICOM, 400, id="no-parts"),
        pytest.param(_multipart(b"x"), 'multipart/related; boundary=""', 400, id="empty-boundary"),
    ],
)
def test_a_malformed_stow_request_is_refused_with_a_body(
    run: Run, body: bytes, content_type: str, status: int
) -> None:
    assert run.service.stow is not None
    got, answer = _post(f"{run.service.stow.url}/studies", body, content_type)
    assert (got, bool(answer.strip())) == (status, True), answer[:300]
    assert json.loads(answer), answer[:300]


def test_one_stow_request_mixing_good_and_hostile_parts_keeps_the_good(run: Run) -> None:
    """202: the good study is stored and gets its result; each bad part ends on its own."""
    assert run.service.stow is not None
    by_name = {case.name: case for case in CASES}
    good = good_study("mixed-good")
    short = by_name["short-pixel-data"].build("mixed-short")
    parts = [
        _encode_part10(good[0]),
        by_name["not-dicom"].build("mixed"),
        short,
        _encode_part10(good[1]),
    ]
    status, body = _post(f"{run.service.stow.url}/studies", _multipart(*parts), _MULTIPART_DICOM)
    answer = json.loads(body)
    assert status == 202, body[:600]
    stored = {item["00081155"]["Value"][0] for item in answer["00081199"]["Value"]}
    [failed] = answer["0008119A"]["Value"]
    assert "not DICOM" in failed["00091001"]["Value"][0]
    short_uid = peek_uids(short)[0]
    assert stored == {str(good[0].SOPInstanceUID), str(good[1].SOPInstanceUID), short_uid}
    deadline = time.monotonic() + 30
    study = str(good[0].StudyInstanceUID)
    while time.monotonic() < deadline and not (
        any(s.study_instance_uid == study for s in run.service.summaries)
        and any(e.sop_instance_uid == short_uid for e in run.service.quarantine.list(limit=10_000))
    ):
        time.sleep(0.1)
    [summary] = [s for s in run.service.summaries if s.study_instance_uid == study]
    assert set(summary.sop_instance_uids) == {str(ds.SOPInstanceUID) for ds in good}
    assert any(e.sop_instance_uid == short_uid for e in run.service.quarantine.list(limit=10_000))


def _encode_part10(ds: Any) -> bytes:
    buffer = DicomBytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return bytes(buffer.getvalue())


_REAL_WORLD = HostileCase("pydicom-test-file", lambda seed: b"", ANY_END)


def test_every_file_pydicom_ships_ends_in_exactly_one_state(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Real vendor CT, MR, US, NM, compressed variants, DICOMDIRs and broken files, all
    routed to a model: each is processed, quarantined with a reason, or refused."""
    tmp = tmp_path_factory.mktemp("bundled")
    with running(_settings(tmp, Route("all", models=("organs",)))) as service:
        assert service.stow is not None
        sent: dict[tuple[str, str], Sent] = {}
        for path in bundled_files():
            data = path.read_bytes()
            sop, study = peek_uids(data)
            started = time.monotonic()
            refused, answer = _send_stow(service.stow.url, data)
            took = time.monotonic() - started
            name = str(path.relative_to(BUNDLED_DIR))
            sent[(name, "stow")] = Sent(_REAL_WORLD, "stow", sop, study, refused, answer, took)
        _settle(service, sent, [])
        assert stored_counts(tmp / "state" / "runtime" / "deadletters.sqlite") == {}
    # pydicom's files share SOP Instance UIDs between variants of one image: the first
    # copy ends, and a resend of it is that same instance.
    first: dict[str | None, Sent] = {}
    for item in sent.values():
        first.setdefault(item.sop_instance_uid, item)
    unended = {
        name: (sorted(item.states), item.answer[-200:])
        for (name, _), item in sent.items()
        if len(item.states) != 1 and first[item.sop_instance_uid] is item
    }
    assert not unended, unended
    slow = {name: item.seconds for (name, _), item in sent.items() if item.seconds > 10}
    assert not slow, slow


def test_megabytes_of_junk_are_refused_without_reading_them_all(run: Run) -> None:
    assert run.service.stow is not None
    junk = bytes(8 << 20)  # 8 MiB of zeros: no DICM prefix, no data element worth the name
    started = time.monotonic()
    refused, answer = _send_stow(run.service.stow.url, junk)
    took = time.monotonic() - started
    assert refused and "not DICOM" in answer, answer
    assert took < 1.0, f"refusing 8 MiB of zeros took {took:.1f} s"


def test_a_deflate_bomb_is_refused_at_the_door_before_it_is_inflated(run: Run) -> None:
    """F5: the doors bound inflation by the service's max_bytes, before pydicom reads it."""
    for door in DOORS:
        sent = run.sent.get(("deflate-bomb-64mib", door))
        if sent is not None:
            assert sent.refused, (door, sent.answer[-300:])
    stow = run.sent[("deflate-bomb-64mib", "stow")]
    assert "inflates to more than" in stow.answer, stow.answer[-300:]
