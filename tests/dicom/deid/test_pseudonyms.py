"""Keyed pseudonyms: valid, deterministic, secret-dependent, purpose-separated."""

from __future__ import annotations

import re

from pydicom.uid import UID

from streamgale.dicom.deid import Pseudonymizer

SECRET = bytes(range(32))
UIDS = [f"1.2.826.0.1.3680043.8.498.{n}" for n in range(500)]


def test_uids_are_valid_under_2_25_and_deterministic() -> None:
    ours = Pseudonymizer(SECRET)
    mapped = [ours.uid(uid) for uid in UIDS]
    for value in mapped:
        assert UID(value).is_valid, value
        assert re.fullmatch(r"2\.25\.[1-9]\d*", value) and len(value) <= 44
    assert mapped == [Pseudonymizer(SECRET).uid(uid) for uid in UIDS]
    assert len(set(mapped)) == len(UIDS)


def test_padding_does_not_change_a_uid_pseudonym() -> None:
    # UI values are padded with NUL or space to even length on the wire.
    assert Pseudonymizer(SECRET).uid("1.2.3 ") == Pseudonymizer(SECRET).uid("1.2.3")


def test_another_secret_gives_unrelated_pseudonyms() -> None:
    ours, theirs = Pseudonymizer(SECRET), Pseudonymizer(bytes(32))
    assert all(ours.uid(u) != theirs.uid(u) for u in UIDS[:50])
    assert ours.patient_id("MRN-1") != theirs.patient_id("MRN-1")


def test_patient_pseudonyms_fit_lo_and_pn_and_use_the_prefix() -> None:
    value = Pseudonymizer(SECRET, prefix="TRIAL-").patient_id("MRN-1")
    assert re.fullmatch(r"TRIAL-[A-Z2-7]{20}", value)


def test_purposes_do_not_collide() -> None:
    p = Pseudonymizer(SECRET)
    assert p.patient_id("1.2.3") not in p.uid("1.2.3")


def test_date_shifts_are_never_zero_and_stay_in_range() -> None:
    p = Pseudonymizer(SECRET)
    shifts = [p.date_shift_days(f"MRN-{n}", max_days=30) for n in range(2000)]
    assert all(1 <= abs(s) <= 30 for s in shifts)
    assert set(range(-30, 0)) | set(range(1, 31)) == set(shifts)  # the whole range is used
    assert p.date_shift_days("MRN-7", max_days=30) == shifts[7]


def test_repr_hides_the_secret() -> None:
    assert "secret" not in repr(Pseudonymizer(SECRET)) and str(SECRET) not in repr(
        Pseudonymizer(SECRET)
    )
