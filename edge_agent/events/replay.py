"""Signatures of signed commands already received, on disk, so a restart does not forget them.

Why on disk: a command is accepted while its ``ts`` is within ``command_max_age_s`` of our
clock. Kept in memory only, a signed command recorded on the wire could be replayed right
after a restart (a crash, a power cut, a systemd restart) and would be accepted again.

Entries expire at the command's own ``ts`` + the longest freshness window a config may set
(``COMMAND_MAX_AGE_CAP_S``, 1 h), not the running one: an operator who widens ``command_max_age_s``
(a backend clock minutes off) and restarts would otherwise reopen the window for every command
captured meanwhile, their entries gone after the old 60 s. Wall-clock time (the
monotonic clock restarts with the process). A wall clock stepped backwards keeps entries
longer, never shorter; one stepped forwards makes the old commands stale anyway.
SQLite with ``synchronous=FULL``: signed commands are rare, and the point is to survive a
power cut. A corrupt file (``edge_agent/sqlite_damage.py`` decides; a full disk is not) is moved aside and a fresh one started (announced in the log):
refusing every command for ever would be worse.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge_agent.clock import Clock
from edge_agent.config.mqtt import COMMAND_MAX_AGE_CAP_S
from edge_agent.owndb import connect_own
from edge_agent.sqlite_damage import is_corruption, prune_aside

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (sig TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_expires ON seen(expires);
CREATE TABLE IF NOT EXISTS last_word (bay TEXT PRIMARY KEY, ts_us INTEGER NOT NULL, lowering INTEGER NOT NULL);
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ReplayMemory:
    def __init__(self, path: str | Path, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):  # a full disk is no damage: forgetting seen signatures would allow replays
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{clock.now().strftime('%Y%m%dT%H%M%S')}")
            log.error("replay memory %s unreadable (%s): moved to %s, starting a fresh one", self.path, exc, aside.name)
            self.path.replace(aside)
            prune_aside(self.path)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = connect_own(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            db.execute("SELECT COUNT(*) FROM seen").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def remember(self, sig: str, sent: datetime, window_s: float) -> bool:
        """Record ``sig``; False when it was already there (a replay). Prunes expired entries.

        Kept until no window any config may set (``window_s`` or the cap, the longer) accepts ``sent``."""
        expires = max(sent.timestamp(), self._now()) + max(window_s, COMMAND_MAX_AGE_CAP_S)
        with self._lock:
            self._db.execute("DELETE FROM seen WHERE expires < ?", (self._now(),))
            cur = self._db.execute("INSERT OR IGNORE INTO seen (sig, expires) VALUES (?, ?)", (sig, expires))
            return cur.rowcount == 1

    def seen(self, key: str) -> bool:
        """``key`` is remembered and not yet expired (without recording anything)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM seen WHERE sig = ? AND expires >= ?",
                                    (key, self._now())).fetchone() is not None

    def last_words(self) -> dict[str, tuple[int, bool]]:
        """Per bay, the newest lock command's ``ts`` acted on (microseconds since the epoch, exact) and whether a
        lowering (``unlock``, ``maintenance`` on) was among those of that ``ts`` (``CommandHandler._check_order``)."""
        with self._lock:
            return {bay: (int(ts), bool(low))
                    for bay, ts, low in self._db.execute("SELECT bay, ts_us, lowering FROM last_word")}

    def note_word(self, bay: str, ts_us: int, lowering: bool) -> None:
        """Keep ``bay``'s newest word over a restart: kept in memory only, a captured older ``lock`` published after
        a restart (within the freshness window) raised the arm against the ``unlock`` before it. Words no window
        any config may set still takes commands before go (``COMMAND_MAX_AGE_CAP_S``)."""
        oldest = (self._clock.now() - _EPOCH) // timedelta(microseconds=1) - int(COMMAND_MAX_AGE_CAP_S * 2e6)
        with self._lock:
            self._db.execute("DELETE FROM last_word WHERE ts_us < ?", (oldest,))
            self._db.execute("INSERT OR REPLACE INTO last_word (bay, ts_us, lowering) VALUES (?, ?, ?)",
                             (bay, ts_us, int(lowering)))

    @staticmethod
    def micros(ts: datetime) -> int:
        """``ts`` (aware) as whole microseconds since the epoch: exact, unlike a float timestamp."""
        return (ts - _EPOCH) // timedelta(microseconds=1)

    def prune(self) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM seen WHERE expires < ?", (self._now(),)).rowcount

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
