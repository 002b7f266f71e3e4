"""Server-side sessions: the signed cookie carries only a random id; this table says whose it is.

A signed cookie alone cannot be taken back: a copy kept after logout, or by a user removed
since, stayed valid for its whole lifetime. So a session is valid only while its row exists,
is younger than ``max_age_s`` on the injected clock, and the user's password hash is still the
one it was opened with. Logout (row deleted), ``edge-agent users remove`` (user gone) and a new
password (new hash and salt) therefore end it on the very next request, with no message
between the CLI and the page. The rows live in the violation log's SQLite file, so sessions
survive a restart and ended ones stay ended. Only a hash of the id is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from edge_agent.clock import Clock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_sessions (
    sid_hash TEXT PRIMARY KEY, user TEXT NOT NULL, user_stamp TEXT NOT NULL,
    opened_epoch REAL NOT NULL, expires_epoch REAL NOT NULL);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user);
"""


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "replace")).hexdigest()


class SessionTable:
    """Open, look up and end sessions. Thread-safe (one locked connection)."""

    def __init__(self, db_path: str | Path, clock: Clock, max_age_s: float) -> None:
        self._clock = clock
        self._max_age = max_age_s
        self._lock = threading.Lock()
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._db:
            self._db.executescript(_SCHEMA)

    def _now(self) -> float:
        return self._clock.now().timestamp()  # wall time: a session's age must survive a restart

    def open(self, user: str, stamp: str) -> str:
        """A new session for ``user`` whose password hash has ``stamp``; returns the cookie's id."""
        sid = secrets.token_urlsafe(32)
        now = self._now()
        with self._lock, self._db:
            self._db.execute("DELETE FROM web_sessions WHERE expires_epoch <= ?", (now,))
            self._db.execute("INSERT INTO web_sessions VALUES (?,?,?,?,?)",
                             (_key(sid), user, stamp, now, now + self._max_age))
        return sid

    def user(self, sid: object, stamp_of: Callable[[str], str | None]) -> str | None:
        """Whose session ``sid`` is, or None (unknown, expired, user removed, password changed)."""
        if not isinstance(sid, str) or not sid:
            return None
        with self._lock:
            row = self._db.execute("SELECT user, user_stamp, expires_epoch FROM web_sessions WHERE sid_hash=?",
                                   (_key(sid),)).fetchone()
        if row is None:
            return None
        user, stamp, expires = row
        now = self._now()
        # further off than a whole lifetime: opened while the wall clock ran ahead, since stepped back
        if expires <= now or expires - now > self._max_age or stamp_of(user) != stamp:
            self.end(sid)
            return None
        return user

    def end(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock, self._db:
                self._db.execute("DELETE FROM web_sessions WHERE sid_hash=?", (_key(sid),))

    def close(self) -> None:
        with self._lock:
            self._db.close()
