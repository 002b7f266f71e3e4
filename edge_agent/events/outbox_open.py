"""Opening the outbox's SQLite file: a damaged file is quarantined and its readable rows saved;
a full disk is no damage.

Why apart from ``outbox.py``: opening is where a full disk was once taken for corruption and a
healthy outbox with its pending events was moved aside (``edge_agent/sqlite_damage.py`` holds
the rule). Here only real damage — SQLite says corrupt / not a database, or ``PRAGMA
quick_check`` fails — moves the file (with its WAL) to ``….corrupt-<time>``; the rows that can
still be read from it are copied, in order, into the fresh outbox, so a single bad page costs
the events on that page, not all of them. Any other error is raised unchanged: the caller keeps
the file and retries.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Iterator

from edge_agent.owndb import connect_own
from edge_agent.sqlite_damage import integrity_problems, is_corruption, move_aside, prune_aside, salvage_from

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    protected INTEGER NOT NULL,
    key TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unprotected ON outbox(protected, seq);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_key ON outbox(key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
-- the newest events taken (their ids, written in the event's own transaction): what the violation log, written
-- first, holds beyond them never reached the outbox (a kill between the two writes; MqttLink.put_missing)
CREATE TABLE IF NOT EXISTS taken (n INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL);
-- the last start that compared the violation log with ``taken``: its run's recorded start and how far the log went
-- then. Only the events that run logged are this outbox's to take (never salvaged: a fresh outbox tells nothing)
CREATE TABLE IF NOT EXISTS start_mark (one INTEGER PRIMARY KEY CHECK (one = 1), started TEXT NOT NULL,
                                       log_upto INTEGER NOT NULL);
"""


def open_outbox_db(path: Path, synchronous: str) -> sqlite3.Connection:
    """A checked connection to ``path``; raises ``sqlite3.Error`` for anything but damage."""
    try:
        db = _connect(path, synchronous)
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        return _quarantine(path, synchronous, str(exc))
    try:
        bad = integrity_problems(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        if not is_corruption(exc):
            raise
        bad = [str(exc)]
    if bad:
        db.close()
        return _quarantine(path, synchronous, "; ".join(bad))
    return db


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    db = connect_own(path, check_same_thread=False, isolation_level=None, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        db.execute("PRAGMA secure_delete=ON")  # delivered messages name plates: overwrite them, not just free them
        db.executescript(SCHEMA)
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def _quarantine(path: Path, synchronous: str, why: str) -> sqlite3.Connection:
    aside = move_aside(path, f".corrupt-{int(time.time())}")
    db = _connect(path, synchronous)
    rows, counters = salvage(aside, db)
    log.error("outbox %s is damaged (%s); moved to %s, %d readable message(s) and %d counter(s) copied into "
              "a fresh outbox", path, why[:200], aside, rows, counters)
    prune_aside(path)
    return db


def salvage(source: Path, db: sqlite3.Connection) -> tuple[int, int]:
    """Copy the rows (in ``seq`` order) and counters that can still be read from ``source`` into
    ``db``; a damaged page is stepped over, its rows counted as lost (``counters``' ``lost``, as a full disk's
    are). Returns (rows, counters) copied."""
    copied = [0, 0]
    insert = "INSERT OR IGNORE INTO outbox (topic, payload, qos, retain, protected, key) VALUES (?, ?, ?, ?, ?, ?)"
    with salvage_from(source, db, "BEGIN IMMEDIATE") as src:
        if src is None:
            return 0, 0
        skipped = [0]
        for row in _rows_past_damage(src, source, skipped):
            copied[0] += db.execute(insert, row).rowcount
        for row in _readable(src, "SELECT name, value FROM counters", source):
            copied[1] += db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", row).rowcount
        if skipped[0]:
            db.execute(
                "INSERT INTO counters (name, value) VALUES ('lost', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (skipped[0],),
            )
            log.error("outbox salvage from %s: about %d message(s) on damaged pages lost (counted)", source, skipped[0])
    return copied[0], copied[1]


_ROW_FROM = "SELECT seq, topic, payload, qos, retain, protected, key FROM outbox WHERE seq >= ? ORDER BY seq LIMIT 1"
_FIRST_FROM = "SELECT seq FROM outbox WHERE seq >= ? ORDER BY seq LIMIT 1"


def _rows_past_damage(src: sqlite3.Connection, source: Path, skipped: list[int]) -> Iterator[tuple[object, ...]]:
    """The outbox rows of ``src`` in ``seq`` order, stepping over damaged pages, ``skipped[0]`` counting the numbers
    stepped over (their gap: delivered rows deleted there count too, an upper bound). Each row is its own lookup,
    which descends the table by key: one past a bad page works where a scan through it fails (and a cursor's step to
    the next row, made as it hands one over, lost the last good row before the damage too). Why: the scan stopped at
    the first bad page, and a card's one bad block in the middle cost every event behind it: 101 of 200 lost for the
    4 on the page (probe chaos38)."""
    try:
        top = src.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
    except sqlite3.Error:
        top = None  # the table's right edge unreadable: read up to the damage, as before
    start = 0
    while True:  # ``start`` grows at every turn
        try:
            row = src.execute(_ROW_FROM, (start,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("outbox salvage from %s: a damaged page from message %d: %s", source, start, exc)
            nxt = None if top is None else _first_readable(src, start + 1, int(top))
            if nxt is None:
                return
            skipped[0] += nxt - start
            start = nxt
            continue
        if row is None:
            return
        start = int(row[0]) + 1
        yield tuple(row[1:])


def _first_readable(src: sqlite3.Connection, lo: int, top: int) -> int | None:
    """The smallest ``seq`` in ``lo..top`` a lookup reaches (None: none): doubling steps past the damage, then halving
    back to its end, so a long table costs a few dozen lookups, not one per number."""

    def reach(k: int) -> int | None:
        try:
            row = src.execute(_FIRST_FROM, (k,)).fetchone()
        except sqlite3.Error:
            return None
        return int(row[0]) if row is not None else top + 1

    step, hi = 1, lo
    while (found := reach(hi)) is None:
        if hi >= top:
            return None
        lo, hi, step = hi + 1, min(hi + step, top), step * 2
    if found > top:
        return None
    while lo < hi:  # lookups from ``lo`` fail, from ``hi`` reach ``found``: the first that reaches
        mid = (lo + hi) // 2
        got = reach(mid)
        if got is None:
            lo = mid + 1
        else:
            hi, found = mid, got
    return found


def _readable(src: sqlite3.Connection, select: str, source: Path) -> Iterator[tuple[object, ...]]:
    """The rows of ``select`` up to the first one that cannot be read (the damage is the end)."""
    try:
        cur = src.execute(select)
        while (row := cur.fetchone()) is not None:
            yield tuple(row)
    except sqlite3.Error as exc:
        log.warning("outbox salvage from %s stopped: %s", source, exc)
