"""``streamgale store purge`` and ``streamgale reprocess`` against a real store and service.

The service runs in this process (doors on free ports); studies are sent
with dcmtk's storescu and the commands run as the installed ``streamgale``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.quality import ValidationLimits
from streamgale.dicom.radiology.pipeline import RadiologySettings
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.log import MemoryLog
from tests.cli.cli import streamgale
from tests.dicom.radiology.helpers import (
    fast_settings,
    organs_model,
    running,
    send_with_storescu,
    wait_for_results,
)

DAY = 86400.0


def _settings(tmp_path: Path, model_version: str = "2", **overrides: object) -> RadiologySettings:
    folder = tmp_path / f"model-{model_version}"
    folder.mkdir(exist_ok=True)
    return fast_settings(
        tmp_path,
        models=(organs_model(folder, version=model_version),),
        routes=(Route("ct", modalities={"CT"}, models=("organs",)),),
        dimse=ScpConfig(port=0),
        folder=None,
        **overrides,
    )


def test_reprocess_runs_a_study_through_the_pipeline_again(tmp_path: Path) -> None:
    with running(_settings(tmp_path)) as app:
        series = ct_series(slices=3, size=64, seed=11)
        send_with_storescu(app, write_instances(series, tmp_path / "send"))
        wait_for_results(app, 1)
        study = str(series[0].StudyInstanceUID)
        done = streamgale("reprocess", study, "--state-dir", tmp_path / "state", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"queued 3 instances of {study}" in done.stdout
        wait_for_results(app, 2)
        first, second = app.summaries
        # Run again with the same model, the study keeps its result (nothing new to say).
        assert second.study_instance_uid == study and second.instances == 3
        assert (second.result_id, second.version) == (first.result_id, 1)


def test_reprocess_queued_while_the_service_is_down_uses_the_model_it_starts_with(
    tmp_path: Path,
) -> None:
    series = ct_series(slices=2, size=64, seed=12)
    with running(_settings(tmp_path, model_version="2")) as app:
        send_with_storescu(app, write_instances(series, tmp_path / "send"))
        wait_for_results(app, 1)
        [first] = app.summaries
    uid = str(series[0].SeriesInstanceUID)
    done = streamgale("reprocess", uid, "--state-dir", tmp_path / "state", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "queued 2 instances" in done.stdout
    with running(_settings(tmp_path, model_version="3")) as app:
        wait_for_results(app, 1)
        [again] = app.summaries
        assert app.results.get(again.result_id).model_version == "3"
    assert again.instances == 2 and again.result_id != first.result_id
    assert again.version == 2  # supersedes the result of model version 2


def test_a_corrected_resend_of_a_quarantined_instance_is_processed(tmp_path: Path) -> None:
    with running(_settings(tmp_path, limits=ValidationLimits(max_rows=32))) as app:
        series = ct_series(slices=2, size=64, seed=13)  # 64 rows: over the limit
        send_with_storescu(app, write_instances(series[:1], tmp_path / "bad"))
        deadline = time.monotonic() + 30
        while not app.quarantine.list() and time.monotonic() < deadline:
            time.sleep(0.05)
        [entry] = app.quarantine.list()
        assert entry.sop_instance_uid == str(series[0].SOPInstanceUID)
        corrected = ct_series(slices=2, size=32, seed=13)  # same UIDs, 32 rows
        assert corrected[0].SOPInstanceUID == series[0].SOPInstanceUID
        send_with_storescu(app, write_instances(corrected[:1], tmp_path / "fixed"))
        wait_for_results(app, 1)
        processed = [s for s in app.summaries if s.instances == 1]
        assert processed, [(s.version, s.instances, s.quarantined) for s in app.summaries]
        assert processed[-1].sop_instance_uids == (str(series[0].SOPInstanceUID),)


def test_reprocess_of_an_unknown_uid_or_state_dir_fails_clearly(tmp_path: Path) -> None:
    InstanceStore(tmp_path / "state" / "instances", MemoryLog()).close()
    unknown = streamgale("reprocess", "1.2.3", "--state-dir", tmp_path / "state", cwd=tmp_path)
    assert unknown.returncode == 1
    assert "no stored instance has study, series or SOP Instance UID 1.2.3" in unknown.stderr
    missing = streamgale("reprocess", "1.2.3", "--state-dir", tmp_path / "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "no instance store at" in missing.stderr


def test_store_purge_removes_old_processed_instances_and_keeps_those_in_flight(
    tmp_path: Path,
) -> None:
    now = [1 * DAY]
    store = InstanceStore(tmp_path / "state" / "instances", MemoryLog(), clock=lambda: now[0])
    old, in_flight = (store.put(_part10(ds), source="dimse") for ds in ct_series(slices=2, size=16))
    now[0] = time.time()
    recent = store.put(_part10(ct_series(slices=1, size=16, seed=9)[0]), source="dimse")
    store.mark_processed([old.sop_instance_uid, recent.sop_instance_uid])
    store.close()
    state = tmp_path / "state"
    args = ("store", "purge", "--older-than", "30d", "--state-dir", state)
    dry = streamgale(*args, "--dry-run", "--json", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["purged"] == [old.sop_instance_uid] and report["kept_in_flight"] == 1
    assert Path(old.path).exists()
    done = streamgale(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "purged 1 instances" in done.stdout and "1 instances past the limits" in done.stdout
    assert not Path(old.path).exists()
    assert Path(in_flight.path).exists() and Path(recent.path).exists()
    again = streamgale(*args, "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["purged"] == []


def test_store_purge_needs_a_limit(tmp_path: Path) -> None:
    done = streamgale("store", "purge", "--state-dir", tmp_path, cwd=tmp_path)
    assert done.returncode == 2 and "--older-than" in done.stderr


def _part10(ds: object) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)  # type: ignore[attr-defined]
    return buffer.getvalue()


def test_store_purge_while_the_service_runs_removes_what_it_processed(tmp_path: Path) -> None:
    with running(_settings(tmp_path)) as app:
        series = ct_series(slices=3, size=64, seed=14)
        send_with_storescu(app, write_instances(series, tmp_path / "send"))
        wait_for_results(app, 1)
        paths = [Path(app.store.get(str(ds.SOPInstanceUID)).path) for ds in series]
        args = ("store", "purge", "--older-than", "1ms", "--json")
        done = streamgale(*args, "--state-dir", tmp_path / "state", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert sorted(report["purged"]) == sorted(str(ds.SOPInstanceUID) for ds in series)
        assert report["kept_in_flight"] == 0
        assert not any(p.exists() for p in paths)
        # A resend is stored anew.
        send_with_storescu(app, write_instances(series, tmp_path / "again"))
        assert all(p.exists() for p in paths)
