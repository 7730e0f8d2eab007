"""Keyed pseudonyms: UIDs, Patient IDs and per-patient date shifts from one secret.

Every pseudonym is HMAC-SHA256(secret, purpose + original), so it is
deterministic (the same original maps to the same pseudonym across instances,
studies and runs), unlinkable without the secret, and different for each
purpose (a Patient ID and a UID with the same text do not collide).

>>> p = Pseudonymizer(b"0123456789abcdef", prefix="SG")
>>> uid = p.uid("1.2.3.4")
>>> uid.startswith("2.25."), len(uid) <= 64, uid == p.uid("1.2.3.4")
(True, True, True)
>>> p.patient_id("MRN-42") == p.patient_id("MRN-42"), p.patient_id("MRN-42")[:2]
(True, 'SG')
>>> 1 <= abs(p.date_shift_days("MRN-42", max_days=365)) <= 365
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["Pseudonymizer"]

_UID_BITS = 128  # PS3.5 B.2: "2.25." + the decimal of a 128-bit integer (<= 39 digits)
_ID_CHARS = 20  # 100 bits of base32: collisions are negligible below ~10^12 patients


class Pseudonymizer:
    """Maps identifiers to pseudonyms keyed by ``secret`` (HMAC-SHA256)."""

    def __init__(self, secret: bytes, *, prefix: str = "SG") -> None:
        self._secret = secret
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"Pseudonymizer(prefix={self._prefix!r})"  # never the secret

    def _digest(self, purpose: bytes, value: str) -> bytes:
        return hmac.new(self._secret, purpose + b"\x00" + value.encode(), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """A valid UID (PS3.5 9.1) under the 2.25 arc, at most 44 characters."""
        number = int.from_bytes(self._digest(b"uid", original.strip())[: _UID_BITS // 8], "big")
        return f"2.25.{number}"

    def patient_id(self, original: str) -> str:
        """``prefix`` + 20 base32 characters: fits LO (64) and a PN component (64)."""
        text = base64.b32encode(self._digest(b"patient-id", original.strip())).decode()
        return self._prefix + text[:_ID_CHARS]

    def date_shift_days(self, identity: str, *, max_days: int) -> int:
        """A shift in days within [-max_days, -1] or [1, max_days]; never 0 (never a no-op)."""
        number = int.from_bytes(self._digest(b"date-shift", identity.strip())[:8], "big")
        magnitude = 1 + number % max_days
        return magnitude if (number // max_days) % 2 else -magnitude
