"""The time retention measures age against: a synchronised wall clock's, or no later than the records allow.

Why: age is the wall clock's (it must survive restarts), and a restart with the clock 40 days ahead — a wrong RTC, a
hand-set clock, before NTP — deleted the photos and took the plates out of the events of 3 visits minutes old (probe
chaos37); what the running process saved is also timed on the monotonic clock, what earlier runs saved has only its
stamps. So an unsynchronised clock (or one nobody can vouch for) is believed no further than the newest record the
file held at the start plus the time the monotonic clock has counted since. The cost of that doubt: after a real stop
of N days on a clock NTP has not synced, records are kept up to N days longer, until it syncs or a later start finds
records saved after the stop (a clock the agent never sees synced — ``clock_synced: null`` — has only that).

The time a run has seen pass is carried over (``age_marks``, at most every ``MARK_EVERY_S``): the bound alone fell
back to the same newest record at every start, and with no new record (a quiet bay, a site closed for a season) a
nightly restart kept photos and plates for ever on a clock that never syncs (review69). What is kept is the bounded
time, never an unsynced clock's word, so a clock ahead gains nothing by it.

Once a synchronised clock was seen (its time kept apart, ``SYNCED``), the records' stamps no longer move the bound, the
times kept do: the records of each boot's minutes before NTP synced, on an RTC wrong ahead at every boot, made the next
boot believe the same wrong clock, and a day-old photo was deleted as 41 days old (probe chaos39). The cost: after a
stop, the bound waits for NTP (records saved on the unsynced clock meanwhile no longer advance it). Until
``NO_LONGER_SYNCING`` runs in a row kept no synchronised time (``UNSYNCED_RUNS``): then the device is taken as no
longer syncing and the records' way is back. Without that, a device that lost NTP for good after one sync and whose
runs end before their second pass never deleted a photo again, and 12 h off a day doubled retention (review84).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from edge_agent.clock import Clock, iso

log = logging.getLogger(__name__)

DOUBT_SAID_S = 86400.0  # a clock this far past the bound is said (once per episode): ordinary downtime is not
MARK_EVERY_S = 600.0  # the time retention measured is kept this often at most (one small row a pass, not per batch)
# made by the first mark kept, not at the open: a backup's lock on an upgraded file must not keep the agent from starting
MARKS_SCHEMA = "CREATE TABLE IF NOT EXISTS age_marks (what TEXT PRIMARY KEY, epoch REAL NOT NULL)"
SYNCED = ":synced"  # the mark's name + this: the latest time kept that a synchronised clock told
UNSYNCED_RUNS = ":unsynced_runs"  # … + this: runs in a row since that kept no synchronised time (the count as epoch)
NO_LONGER_SYNCING = 24  # that many (a day of hourly restarts): taken as no longer syncing; the records count again


def saved_mark(db: sqlite3.Connection, what: str) -> float | None:
    """The time retention last measured, kept by an earlier run (None: none, or unreadable)."""
    try:
        row = db.execute("SELECT epoch FROM age_marks WHERE what = ?", (what,)).fetchone()
    except sqlite3.Error:
        return None
    return float(row[0]) if row is not None else None


def newest_epoch(db: sqlite3.Connection, newest_sql: str, what: str) -> float | None:
    """The newest record's time (``newest_sql``: one ``MAX(...)``) or the time an earlier run's pass measured
    (``what``'s mark), whichever is later; None when neither is known. Where a synchronised clock's time was kept,
    the marks alone (the module: a record's stamp may be an RTC's wrong word)."""
    mark, synced = saved_mark(db, what), saved_mark(db, what + SYNCED)
    if synced is not None and (saved_mark(db, what + UNSYNCED_RUNS) or 0) < NO_LONGER_SYNCING:
        return max(synced, mark if mark is not None else synced)
    try:
        row = db.execute(newest_sql).fetchone()
    except sqlite3.Error:
        row = None
    times = [t for t in (row[0] if row else None, mark, synced) if t is not None]
    return float(max(times)) if times else None


def keep_mark(db: sqlite3.Connection, what: str, epoch: float, synced: bool = False, first: bool = False) -> None:
    """Keep ``epoch`` as the time retention measured, and as a synchronised clock's where it was (its own
    transaction; a full or locked disk: kept next time); ``first``: the run's first, counted where not synced."""
    upsert = "INSERT OR REPLACE INTO age_marks (what, epoch) VALUES (?, ?)"
    try:
        with db:
            db.execute(MARKS_SCHEMA)
            for name in (what, what + SYNCED) if synced else (what,):
                db.execute(upsert, (name, epoch))
            if synced:
                db.execute(upsert, (what + UNSYNCED_RUNS, 0))
            elif first:
                db.execute(upsert, (what + UNSYNCED_RUNS, (saved_mark(db, what + UNSYNCED_RUNS) or 0) + 1))
    except sqlite3.Error as exc:
        log.debug("retention's time not kept (%s): the next start measures from the newest record", exc)


class AgeClock:
    """``now()``: epoch seconds for retention's cutoffs; ``newest``: the newest record's epoch at the start, or the time
    an earlier run kept if later (None: neither, the wall clock is all there is); ``keep``: how the owner keeps the time
    measured (``keep_mark``), called by ``keep()`` once a pass went through."""

    def __init__(
        self, clock: Clock, newest: float | None, what: str, keep: Callable[[float, bool, bool], None] | None = None
    ) -> None:
        self._clock = clock
        self._newest = newest
        self._mono0 = clock.monotonic()
        self._what = what
        self._doubted = False
        self._keep = keep  # the owner's ``keep_mark``: the time measured, for the next start's bound
        self._kept_at: float | None = None
        self._measured: float | None = None  # what the last ``now()`` measured, where vouched for
        self._measured_synced = False  # … by a synchronised clock

    def now(self) -> float:
        at, vouched = self._now()
        # kept only where a record or NTP vouches for it: an empty store's unsynced clock (all there is) is no mark
        self._measured = at if vouched else None
        self._measured_synced = vouched and self._clock.synced() is True
        return at

    def keep(self) -> None:
        """Keep the time the pass just measured (``now``) for the next start, at most every ``MARK_EVERY_S``. Called
        once the pass went through: a pass a backup's lock put off waits no second time for the mark's write."""
        mono = self._clock.monotonic()
        if (
            self._measured is None
            or self._keep is None
            or (self._kept_at is not None and mono - self._kept_at < MARK_EVERY_S)
        ):
            return
        first, self._kept_at = self._kept_at is None, mono
        self._keep(self._measured, self._measured_synced, first)

    def _now(self) -> tuple[float, bool]:
        now = self._clock.now().timestamp()
        synced = self._clock.synced() is True
        if self._newest is None or synced:
            self._doubted = False
            return now, synced
        bound = self._newest + max(0.0, self._clock.monotonic() - self._mono0)
        doubted = now > bound + DOUBT_SAID_S
        if doubted and not self._doubted:
            log.warning(
                "%s: the wall clock (%s) is %.1f days past the newest record (or the time kept) plus this run's "
                "uptime and is not synchronised: ages are measured from there until NTP syncs",
                self._what,
                iso(self._clock.now()),
                (now - bound) / 86400,
            )
        self._doubted = doubted
        return min(now, bound), True
