"""Retention of received instances: by age and size, never one still in flight."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgale.dicom.ingest import InstanceEvent, InstanceStore
from streamgale.dicom.ingest.retention import RetentionPolicy, purge_instances
from streamgale.errors import ConfigError
from streamgale.log import MemoryLog

from .helpers import ct_files

DAY = 86400.0


def _store(tmp_path: Path, now: list[float], **kwargs: object) -> InstanceStore:
    return InstanceStore(tmp_path / "s", MemoryLog(), clock=lambda: now[0], **kwargs)  # type: ignore[arg-type]


def _fill(store: InstanceStore, now: list[float], days: list[float]) -> list[InstanceEvent]:
    """One instance received at each of ``days`` (day numbers); the clock ends at the last."""
    stored = []
    for day, data in zip(days, ct_files(len(days), size=16), strict=True):
        now[0] = day * DAY
        stored.append(store.put(data, source="dimse").event)
    return stored


def test_only_processed_instances_past_the_age_are_purged(tmp_path: Path) -> None:
    now = [0.0]
    store = _store(tmp_path, now, retention=RetentionPolicy(max_age=10 * DAY))
    old, old_in_flight, recent = _fill(store, now, [1, 2, 20])
    store.mark_processed([old.sop_instance_uid, recent.sop_instance_uid])
    now[0] = 25 * DAY
    report = store.apply_retention(force=True)
    assert report is not None
    assert [e.sop_instance_uid for e in report.purged] == [old.sop_instance_uid]
    assert report.kept_in_flight == 1 and report.kept == 2
    assert not Path(old.path).exists()
    with pytest.raises(KeyError):
        store.get(old.sop_instance_uid)
    assert Path(old_in_flight.path).exists() and Path(recent.path).exists()
    store.close()


def test_size_purges_the_oldest_processed_first(tmp_path: Path) -> None:
    now = [0.0]
    store = _store(tmp_path, now)
    events = _fill(store, now, [1, 2, 3, 4])
    store.mark_processed(e.sop_instance_uid for e in events)
    size = events[0].size
    report = purge_instances(store._index, RetentionPolicy(max_bytes=2 * size), now=now[0])
    assert [e.sop_instance_uid for e in report.purged] == [e.sop_instance_uid for e in events[:2]]
    assert report.kept_bytes == 2 * size
    store.close()


def test_quarantined_instances_count_as_processed_and_a_dry_run_deletes_nothing(
    tmp_path: Path,
) -> None:
    now = [0.0]
    quarantined: set[str] = set()
    store = _store(tmp_path, now, supersedes=lambda e: e.sop_instance_uid in quarantined)
    [event] = _fill(store, now, [1])
    quarantined.add(event.sop_instance_uid)
    now[0] = 100 * DAY
    policy = RetentionPolicy(max_age=DAY)
    dry = purge_instances(
        store._index, policy, now=now[0], dry_run=True, quarantined=store._superseded
    )
    assert len(dry.purged) == 1 and dry.dry_run
    assert Path(event.path).exists() and store.get(event.sop_instance_uid)
    store.close()


def test_a_released_instance_is_in_flight_again(tmp_path: Path) -> None:
    now = [0.0]
    store = _store(tmp_path, now, retention=RetentionPolicy(max_age=DAY))
    [event] = _fill(store, now, [1])
    store.mark_processed([event.sop_instance_uid])
    store.release(event.sop_instance_uid)  # an operator asked for it again
    now[0] = 100 * DAY
    report = store.apply_retention(force=True)
    assert report is not None and report.purged == () and report.kept_in_flight == 1
    store.close()


def test_the_service_applies_its_policy_once_per_interval(tmp_path: Path) -> None:
    now = [0.0]
    store = _store(tmp_path, now, retention=RetentionPolicy(max_age=DAY, interval=3600))
    assert store.apply_retention() is not None  # due at once after opening
    assert store.apply_retention() is None  # not again within the interval
    store.close()
    keep_all = _store(tmp_path, now)
    assert keep_all.apply_retention(force=True) is None  # no limits: nothing to do
    keep_all.close()


@pytest.mark.parametrize("key", ["max_age", "max_bytes", "interval"])
def test_a_policy_refuses_non_positive_limits(key: str) -> None:
    with pytest.raises(ConfigError, match=f"key '{key}'"):
        RetentionPolicy(**{key: 0})  # type: ignore[arg-type]


_YAML = """
radiology:
  state_dir: /tmp/sg-retention
  models: [demo-lesion]
  routes:
    - {{name: ct, modalities: [CT], models: [demo-lesion]}}
  retention: {retention}
"""


def test_the_policy_is_set_in_the_radiology_file() -> None:
    from streamgale.dicom.radiology.config import load_radiology_text

    text = _YAML.format(retention="{max_age: 30d, max_size: 2GiB, interval: 10m}")
    policy = load_radiology_text(text, "r.yaml").retention
    assert policy == RetentionPolicy(max_age=30 * DAY, max_bytes=2 * 2**30, interval=600)
    keep_all = load_radiology_text(_YAML.format(retention="{}"), "r.yaml")
    assert not keep_all.retention.limited


def test_a_bad_size_names_the_file_line_and_key() -> None:
    from streamgale.dicom.radiology.config import load_radiology_text

    with pytest.raises(ConfigError, match=r"r.yaml:7, key 'radiology.retention.max_size'"):
        load_radiology_text(_YAML.format(retention="{max_size: lots}"), "r.yaml")


def test_a_mark_that_cannot_be_written_is_logged_and_the_instance_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    now = [0.0]
    store = _store(tmp_path, now, retention=RetentionPolicy(max_age=DAY))
    [event] = _fill(store, now, [1])

    def full(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store._index, "mark_processed", full)
    store.mark_processed([event.sop_instance_uid])  # a result is not failed by it
    assert "could not mark 1 instances processed" in caplog.text
    monkeypatch.undo()
    now[0] = 100 * DAY
    report = store.apply_retention(force=True)
    assert report is not None and report.purged == () and report.kept_in_flight == 1
    store.close()
