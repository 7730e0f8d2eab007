"""Who may use the dashboard: one admin token, kept hashed, and browser sessions.

On the first start the server generates a random admin token, stores only a
salted scrypt hash of it in ``<state_dir>/dashboard/admin.json`` (mode 0600)
and hands the token back once, for printing. Later starts find the file and
print nothing; :func:`reset_admin_token` replaces a lost token. There is no
default password.

A browser logs in by posting the token and gets a random session id in an
``HttpOnly; SameSite=Strict`` cookie; scripts send ``Authorization: Bearer
<token>`` instead. Sessions live in memory only, so a restart logs everyone
out, and they end when the token is reset.

>>> import pathlib, tempfile
>>> admin = AdminToken(pathlib.Path(tempfile.mkdtemp()))
>>> token = admin.ensure()
>>> admin.ensure() is None, admin.verify(token), admin.verify("guess")
(True, True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamgale.errors import ConfigError
from streamgale.fsutil import fsync_dir, write_all

__all__ = [
    "ADMIN_FILE",
    "SESSION_COOKIE",
    "AdminToken",
    "Session",
    "SessionStore",
    "hash_token",
    "reset_admin_token",
    "verify_token",
]

ADMIN_FILE = "admin.json"
"""The hashed admin token, under ``<state_dir>/dashboard/``."""

SESSION_COOKIE = "streamgale_session"

_TOKEN_BYTES = 32
"""256 random bits: guessing is hopeless, so one scrypt per try is throttle enough."""

# scrypt with N=2**14, r=8 takes 16 MiB and tens of milliseconds: cheap for a
# login, costly for someone trying tokens offline from a stolen admin.json.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_SESSION_IDLE_S = 12 * 3600.0


def hash_token(token: str, *, salt: bytes | None = None) -> dict[str, Any]:
    """The JSON record kept for ``token``: scrypt parameters, salt and hash (hex).

    >>> record = hash_token("secret", salt=bytes(16))
    >>> record["algorithm"], record["n"], len(record["hash"])
    ('scrypt', 16384, 64)
    """
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(token.encode(), salt=salt, dklen=32, **_SCRYPT)
    return {"algorithm": "scrypt", **_SCRYPT, "salt": salt.hex(), "hash": digest.hex()}


def verify_token(token: str, record: dict[str, Any]) -> bool:
    """Whether ``token`` matches a :func:`hash_token` record (constant-time compare).

    >>> verify_token("secret", hash_token("secret")), verify_token("Secret", hash_token("secret"))
    (True, False)
    """
    digest = hashlib.scrypt(
        token.encode(),
        salt=bytes.fromhex(record["salt"]),
        n=int(record["n"]),
        r=int(record["r"]),
        p=int(record["p"]),
        dklen=32,
    )
    return hmac.compare_digest(digest, bytes.fromhex(record["hash"]))


class AdminToken:
    """The admin token of one dashboard, kept as a hash in ``directory/admin.json``.

    Verified tokens are remembered (as a SHA-256, in memory) so a script that
    sends ``Authorization: Bearer`` on every request pays scrypt once. The
    file is re-read when it changes, so a reset by another process takes
    effect at once: old sessions end and the old token stops working.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / ADMIN_FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._record: dict[str, Any] | None = None
        self._verified: set[bytes] = set()

    def ensure(self) -> str | None:
        """Create the token if there is none; returns it then (print it once), else None."""
        if self.path.exists():
            self._load()
            return None
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        try:
            self._write(hash_token(token), exclusive=True)
        except FileExistsError:  # another process created it first: theirs is the token
            self._load()
            return None
        return token

    def reset(self) -> str:
        """Replace the token with a new one and return it; every session ends."""
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        self._write(hash_token(token), exclusive=False)
        return token

    def verify(self, token: str) -> bool:
        """Whether ``token`` is the current admin token."""
        record = self._load()
        quick = hashlib.sha256(f"{record['hash']}:{token}".encode()).digest()
        with self._lock:
            if quick in self._verified:
                return True
        if not verify_token(token, record):
            return False
        with self._lock:
            self._verified.add(quick)
        return True

    def generation(self) -> str:
        """An id of the current token: sessions made under another one are void."""
        return str(self._load()["hash"])

    def _load(self) -> dict[str, Any]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise ConfigError(
                f"the dashboard admin token file {self.path} is missing; restart the "
                "server to generate a new token, or run 'streamgale dashboard reset-token'"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._record is not None and self._stamp == stamp:
                return self._record
        record = _read_record(self.path)
        with self._lock:
            self._record, self._stamp = record, stamp
            self._verified.clear()
        return record

    def _write(self, record: dict[str, Any], *, exclusive: bool) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        record = {**record, "created_at": time.time()}
        tmp = self.path.with_name(f".{ADMIN_FILE}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            write_all(fd, json.dumps(record, indent=2).encode(), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if the name exists: two first starts cannot both win.
            os.link(tmp, self.path) if exclusive else os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(self.directory)


def reset_admin_token(state_dir: Path) -> str:
    """Replace the dashboard admin token of ``state_dir``; returns the new token.

    For ``streamgale dashboard reset-token``: a running server notices the
    change on its next request and logs every browser out.

    >>> import pathlib, tempfile
    >>> state = pathlib.Path(tempfile.mkdtemp())
    >>> first = reset_admin_token(state)
    >>> AdminToken(state / "dashboard").verify(first)
    True
    """
    return AdminToken(Path(state_dir) / "dashboard").reset()


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
        if record.get("algorithm") != "scrypt":
            raise ValueError(f"unknown algorithm {record.get('algorithm')!r}")
        bytes.fromhex(record["salt"]), bytes.fromhex(record["hash"])
        int(record["n"]), int(record["r"]), int(record["p"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"cannot read the dashboard admin token file {path}: {exc}; "
            "run 'streamgale dashboard reset-token' to make a new token",
            source=path,
        ) from exc
    return dict(record)


@dataclass
class Session:
    """One logged-in browser: its cookie id, its CSRF token, when it ends."""

    id: str
    csrf: str
    generation: str
    """The admin token this session was opened with (see :meth:`AdminToken.generation`)."""
    expires_at: float


class SessionStore:
    """Sessions in memory; each ends after ``idle_s`` without a request.

    >>> sessions = SessionStore(clock=lambda: 0.0)
    >>> s = sessions.open("gen-1")
    >>> sessions.get(s.id, "gen-1") is s, sessions.get(s.id, "gen-2")
    (True, None)
    """

    def __init__(
        self, *, idle_s: float = _SESSION_IDLE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_s = idle_s
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def open(self, generation: str) -> Session:
        """A new session for someone who just proved they hold the token."""
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            generation=generation,
            expires_at=self._clock() + self.idle_s,
        )
        with self._lock:
            self._prune()
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str, generation: str) -> Session | None:
        """The live session with this id, extended; None if unknown, expired or void."""
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            live = session.expires_at > now and hmac.compare_digest(session.generation, generation)
            if not live:
                del self._sessions[session_id]
                return None
            session.expires_at = now + self.idle_s
            return session

    def close(self, session_id: str) -> None:
        """End a session (logout)."""
        with self._lock:
            self._sessions.pop(session_id, None)

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]
