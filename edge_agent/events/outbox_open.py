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
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Iterator

from edge_agent.owndb import connect_own
from edge_agent.sqlite_damage import (
    adopt_built,
    integrity_problems,
    is_corruption,
    prune_aside,
    rebuild_beside,
    rows_past_damage,
    salvage_from,
)

log = logging.getLogger(__name__)

#: counter of the rows a salvage lost that no event has told the backend of yet (``Outbox`` says it once and clears it)
UNANNOUNCED = "lost_unannounced"
#: counter naming this outbox file (random, set when the file is made; a salvage copies it): the run ledger remembers
#: it, so a start that finds another outbox knows the one it used vanished (``Outbox.identity``)
IDENTITY = "identity"
#: counter set by a salvage that could not read the damaged file's ``identity`` (its counters' page was bad): the file
#: did not vanish, so the ledger's other identity is no loss to tell (``Outbox.loss_told``)
IDENTITY_UNREAD = "identity_unread"

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
    adopt_built(path)  # a salvage a kill cut short (``_quarantine``)
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
        db.execute("INSERT OR IGNORE INTO counters (name, value) VALUES (?, ?)", (IDENTITY, secrets.randbits(62)))
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def _quarantine(path: Path, synchronous: str, why: str) -> sqlite3.Connection:
    """The readable rows copied into a fresh outbox built beside ``path``, then the damaged file moved aside and the
    fresh one given its name. Why in that order: the fresh outbox took the name first, and a kill during the copy
    (seconds for 100,000 rows on a Pi) left it empty, found healthy at the next start: every waiting event stayed in
    the copy set aside, none sent, none counted lost (probe review80). Now a kill before the move leaves the damaged
    file to salvage again, one after it the complete fresh outbox (``open_outbox_db`` names it)."""
    aside, (rows, counters) = rebuild_beside(path, lambda p: _connect(p, synchronous), lambda db: salvage(path, db),
                                             f".corrupt-{int(time.time())}")
    log.error("outbox %s is damaged (%s); moved to %s, %d readable message(s) and %d counter(s) copied into "
              "a fresh outbox", path, why[:200], aside, rows, counters)
    prune_aside(path)
    return _connect(path, synchronous)


def salvage(source: Path, db: sqlite3.Connection) -> tuple[int, int]:
    """Copy the rows (in ``seq`` order) and counters that can still be read from ``source`` into
    ``db``; a damaged page is stepped over, its rows counted as lost (``counters``' ``lost``, as a full disk's
    are, and ``UNANNOUNCED`` until the outbox's ``damage_notice`` tells the backend). Returns (rows, counters) copied."""
    copied = [0, 0]
    insert = "INSERT OR IGNORE INTO outbox (topic, payload, qos, retain, protected, key) VALUES (?, ?, ?, ?, ?, ?)"
    with salvage_from(source, db, "BEGIN IMMEDIATE") as src:
        if src is None:
            return 0, 0
        skipped = [0]
        for row in rows_past_damage(src, "outbox", "topic, payload, qos, retain, protected, key", skipped):
            copied[0] += db.execute(insert, row).rowcount
        named = False
        for row in _readable(src, "SELECT name, value FROM counters", source):
            copied[1] += db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", row).rowcount
            named = named or row[0] == IDENTITY
        if not named:
            db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, 1)", (IDENTITY_UNREAD,))
        for name in ("lost", UNANNOUNCED) if skipped[0] else ():  # in the salvage's transaction: said after a kill too
            db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, skipped[0]),
            )
        if skipped[0]:  # one loss, counted twice: said once
            log.error("outbox salvage from %s: about %d message(s) on damaged pages lost (counted)", source, skipped[0])
    return copied[0], copied[1]


def _readable(src: sqlite3.Connection, select: str, source: Path) -> Iterator[tuple[object, ...]]:
    """The rows of ``select`` up to the first one that cannot be read (the damage is the end)."""
    try:
        cur = src.execute(select)
        while (row := cur.fetchone()) is not None:
            yield tuple(row)
    except sqlite3.Error as exc:
        log.warning("outbox salvage from %s stopped: %s", source, exc)
