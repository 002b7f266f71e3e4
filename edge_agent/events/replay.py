"""Signatures of signed commands already received, on disk, so a restart does not forget them.

Why on disk: a command is accepted while its ``ts`` is within ``command_max_age_s`` of our
clock. Kept in memory only, a signed command recorded on the wire could be replayed right
after a restart (a crash, a power cut, a systemd restart) and would be accepted again.

Entries expire at the command's own ``ts`` + the longest freshness window a config may set
(``COMMAND_MAX_AGE_CAP_S``, 1 h), not the running one: an operator who widens ``command_max_age_s``
(a backend clock minutes off) and restarts would otherwise reopen the window for every command
captured meanwhile, their entries gone after the old 60 s. Wall-clock time (the
monotonic clock restarts with the process). A wall clock stepped backwards keeps entries
longer, never shorter; one stepped forwards makes the old commands stale anyway. But a clock stepped back to a
command's ``ts`` an hour or more after it made it fresh and forgotten (a spoofed time server, probe attacker39), so
the latest expiry pruned is kept (``pruned``): a command whose entry may have gone with it is refused
(``older_than_kept``); and entries go only once the newest ``ts`` remembered (the backends' clock) is past them too.
Only what was forgotten: refusing all before the newest ``ts`` less the keep time, one command stamped a year ahead
refused every later one for that year (review96).
SQLite with ``synchronous=FULL``: signed commands are rare, and the point is to survive a
power cut. A corrupt file (``edge_agent/sqlite_damage.py`` decides, checked at every open; a full disk is not) is
moved aside and a fresh one started (announced in the log): refusing every command for ever would be worse. The fresh
one notes when it started (``forgot_at``): what the damaged one remembered is unknown, so a signed command stamped up
to one freshness window after that is refused as a possible replay (``CommandHandler``), a lowering excepted
(DOWN is always allowed). Why: the fresh memory took
every command captured in the window before the restart again, and forgot each bay's last word (probe chaos39).
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
from edge_agent.sqlite_damage import (
    Damaged,
    adopt_built,
    integrity_problems,
    is_corruption,
    prune_aside,
    rebuild_beside,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (sig TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_expires ON seen(expires);
CREATE TABLE IF NOT EXISTS last_word (bay TEXT PRIMARY KEY, ts_us INTEGER NOT NULL, lowering INTEGER NOT NULL);
-- when this memory was started afresh in place of a damaged one (µs since the epoch, our wall clock)
CREATE TABLE IF NOT EXISTS forgot (one INTEGER PRIMARY KEY CHECK (one = 1), at_us INTEGER NOT NULL);
-- a row while ``forgot`` was noted on a clock not known to be set and no set clock has told it since
CREATE TABLE IF NOT EXISTS forgot_unset (one INTEGER PRIMARY KEY CHECK (one = 1));
-- the newest ts of a signed command remembered (µs since the epoch, the backends' clock): what entries are kept for
CREATE TABLE IF NOT EXISTS newest (one INTEGER PRIMARY KEY CHECK (one = 1), ts_us INTEGER NOT NULL);
-- the latest expiry of an entry pruned (``seen.expires``): what was received up to it is forgotten
CREATE TABLE IF NOT EXISTS pruned (one INTEGER PRIMARY KEY CHECK (one = 1), expires REAL NOT NULL);
"""
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ReplayMemory:
    def __init__(self, path: str | Path, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        adopt_built(self.path)  # a fresh memory a kill left before it took the name (``_start_afresh``)
        self._opened = clock.monotonic()  # this run's open: the start a fresh memory notes, or later than it
        self._made_fresh = False  # this run started the memory afresh (``forgot_until``)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):  # a full disk is no damage: forgetting seen signatures would allow replays
                raise
            self._db = self._start_afresh(str(exc))
            self._made_fresh = True
        row = self._db.execute("SELECT at_us FROM forgot").fetchone()
        #: when this memory started afresh in place of a damaged one (µs since the epoch); None: it never did
        self.forgot_at: int | None = None if row is None else int(row[0])
        # the note was taken on a clock the kernel said was not set (``forgot_until``)
        self._unset = self._db.execute("SELECT 1 FROM forgot_unset").fetchone() is not None

    def _open(self, path: Path | None = None) -> sqlite3.Connection:
        """A connection to ``path`` (this memory's file), checked whole: a damaged page among the entries (not
        only the first) raises ``Damaged``; left there, every ``remember`` failed once its entries expired."""
        db = connect_own(path or self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            if path is None and (bad := integrity_problems(db)):
                raise Damaged("; ".join(bad))
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _start_afresh(self, why: str) -> sqlite3.Connection:
        """A fresh memory noting when it started (``forgot``), built beside the damaged file and given its name only
        then: a kill between the two leaves the damaged file to set aside again, never an empty memory without the
        note (``sqlite_damage.rebuild_beside``)."""
        aside, _ = rebuild_beside(
            self.path, self._open,
            self._note_start,
            f".corrupt-{self._clock.now().strftime('%Y%m%dT%H%M%S')}")
        log.error("replay memory %s damaged (%s): moved to %s, starting a fresh one; signed commands stamped before "
                  "one freshness window from now are refused as possible replays", self.path, why[:200], aside.name)
        prune_aside(self.path)
        return self._open()

    def _note_start(self, db: sqlite3.Connection) -> None:
        """Note the fresh start on the wall clock, and whether that clock was not known to be set (the kernel said
        not, or could not be asked)."""
        db.execute("INSERT OR REPLACE INTO forgot (one, at_us) VALUES (1, ?)", (self.micros(self._clock.now()),))
        if self._clock.synced() is not True:
            db.execute("INSERT OR REPLACE INTO forgot_unset (one) VALUES (1)")

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def remember(self, sig: str, sent: datetime, window_s: float) -> bool:
        """Record ``sig``; False when it was already there (a replay). Prunes expired entries.

        Kept until no window any config may set (``window_s`` or the cap, the longer) accepts ``sent``: an entry
        goes once both our clock and the newest ``ts`` remembered are past its expiry, and what went is refused
        after (``older_than_kept``). Why the newest ``ts`` too: our clock alone can be stepped (a spoofed time
        server) forward to drop entries the backend's next command still finds fresh."""
        expires = max(sent.timestamp(), self._now()) + max(window_s, COMMAND_MAX_AGE_CAP_S)
        at = self.micros(sent)
        with self._lock:
            newest = max(at, self._newest_us() or at)
            self._drop_expired(min(self._now(), newest / 1e6))
            cur = self._db.execute("INSERT OR IGNORE INTO seen (sig, expires) VALUES (?, ?)", (sig, expires))
            self._db.execute("INSERT OR REPLACE INTO newest (one, ts_us) VALUES (1, ?)", (newest,))
            return cur.rowcount == 1

    def _drop_expired(self, bound: float) -> int:
        """Delete the entries expired before ``bound``, noting the latest expiry deleted first (``pruned``): a kill
        between the two leaves the note, never entries gone unnoted."""
        latest = self._db.execute("SELECT MAX(expires) FROM seen WHERE expires < ?", (bound,)).fetchone()[0]
        if latest is None:
            return 0
        self._db.execute("INSERT INTO pruned (one, expires) VALUES (1, ?) ON CONFLICT (one) DO UPDATE SET "
                         "expires = MAX(expires, excluded.expires)", (latest,))
        return int(self._db.execute("DELETE FROM seen WHERE expires < ?", (bound,)).rowcount)

    def _newest_us(self) -> int | None:
        row = self._db.execute("SELECT ts_us FROM newest").fetchone()
        return None if row is None else int(row[0])

    def older_than_kept(self, sent: datetime, window_s: float) -> datetime | None:
        """The latest ``ts`` whose entry may have been pruned when ``sent`` is no later than it, else None: whether
        such a command was received before is no longer known. An entry is kept a keep time (``window_s`` or the
        cap, the longer) past its ``ts`` at least, so that is the latest entry pruned less the keep time. A command
        is stamped on the backend's clock, so one that old is fresh only to a device whose clock went back (a
        spoofed or wrong time server): a captured ``set-lists`` replayed that way put old lists back. Only what was
        forgotten, not all before the newest ``ts`` less the keep time: one command stamped a year ahead (a time
        server both the device and a backend followed for a moment) refused every later one for that year."""
        with self._lock:
            row = self._db.execute("SELECT expires FROM pruned").fetchone()
        if row is None:
            return None
        keep = max(window_s, COMMAND_MAX_AGE_CAP_S)  # as ``remember`` adds it: the same float sum
        return _EPOCH + timedelta(seconds=float(row[0]) - keep) if sent.timestamp() + keep <= row[0] else None

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

    def forgot_until(self, window_s: float) -> datetime | None:
        """After a fresh start in place of a damaged memory: the latest ``ts`` a command received before it could
        bear (one freshness window ``window_s`` past the start, for a backend's clock ahead of ours); None if none.
        The start is taken as the wall clock now tells it (kept): in the run that started afresh, the wall clock
        less the time elapsed since (monotonic), later as NTP steps it on — a Pi (no RTC) boots behind after the
        power cut that damaged the file, and the start noted on that clock put the window in the past once NTP
        stepped it on (review84); a note taken on a clock not known to be set (``Clock.synced`` not True: an RTC 40
        days ahead, fake-hwclock's time) is told again by the first run on a set clock, its own start (the latest the
        damage can have been; review84, review96). Never back otherwise: pulled back to a boot's time before NTP (or
        to a spoofed time server's, a set clock), and kept, it let a command captured before the damage run again
        once the clock stepped on (review96, review101)."""
        if self.forgot_at is None:
            return None
        now = self.micros(self._clock.now())
        opened = now - int((self._clock.monotonic() - self._opened) * 1e6)
        synced = self._clock.synced()
        # a note taken on a clock not set says little (fake-hwclock's time, an RTC ahead): once a set clock tells this
        # run's start, the latest the damage can have been, that is taken instead and kept (``confirm``)
        confirm = self._unset and synced is True
        start = opened if self._made_fresh or confirm else self.forgot_at
        if abs(start - self.forgot_at) < 1_000_000:  # a step of the clock moves it, not the elapsed time's rounding
            start = self.forgot_at
        if start < self.forgot_at and not confirm:
            # back only where a set clock tells a note taken on one not known to be set (an RTC ahead, corrected by
            # NTP): on a clock not known to be set (a Pi booted on fake-hwclock's time, a hand-set date; the flag
            # unreadable, chrony under ProtectClock=yes) pulled back there and kept, NTP's step on left a command
            # captured before the damage fresh and outside the window (review96, review101); and a set clock behind
            # a note a set clock took went back (a spoofed time server stepping it back a day over a restart, then
            # on: the same, review101)
            start = self.forgot_at
        if start != self.forgot_at or confirm:
            self.forgot_at = start
            try:
                with self._lock:
                    self._db.execute("UPDATE forgot SET at_us = ?", (start,))
                    if confirm:
                        self._db.execute("DELETE FROM forgot_unset")
                        self._unset = False
            except sqlite3.Error as exc:  # kept in memory: the next start moves it back again
                log.warning("replay memory %s: its fresh start not moved to the clock: %s", self.path, exc)
        return _EPOCH + timedelta(microseconds=self.forgot_at, seconds=window_s)

    @staticmethod
    def micros(ts: datetime) -> int:
        """``ts`` (aware) as whole microseconds since the epoch: exact, unlike a float timestamp."""
        return (ts - _EPOCH) // timedelta(microseconds=1)

    def prune(self) -> int:
        with self._lock:
            newest = self._newest_us()
            return self._drop_expired(self._now() if newest is None else min(self._now(), newest / 1e6))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
