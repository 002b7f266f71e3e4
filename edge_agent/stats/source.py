"""Read the events statistics need from the violation log's SQLite file (the durable record).

Every bus event is stored there once (``events`` table, keyed by ``event_id``) by the review
component, whatever the MQTT link's state, so figures survive restarts and broker outages.
Reads go through the ``(bay_id, ts_epoch)`` index, one bay at a time, and pull only the two JSON
fields used (``nev``, ``status``) so a month of 8 busy bays reads in milliseconds.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_agent.stats.compute import ARRIVED, CHARGER, DEPARTED, TYPES, Row, Stats, compute, day_bounds

MARGIN_S = 2 * 86400  # rows this long before the window are read whole (a clock step re-dates into it)
_BASE = ("type, ts_epoch, visit_id, json_extract(data, '$.nev'), "
         "CASE type WHEN 'vehicle_departed' THEN json_extract(data, '$.reason') ELSE json_extract(data, '$.status') END, "
         "COALESCE(json_extract(data, '$.stayed_s'), json_extract(data, '$.duration_s'), json_extract(data, '$.parked_s')), ")
_DISMISSED = ("type = 'violation_started' AND EXISTS (SELECT 1 FROM violations v WHERE v.event_id = events.event_id "
              "AND v.decision = 'dismissed')")  # a reviewer said it was none
_MARKS = ",".join("?" * len(TYPES))
_CHUNK = 500  # visit ids per IN (...): SQLite's variable limit


def open_read_only(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only. The name goes in as a ``file:`` URI, percent-encoded: written raw, a
    data dir with ``#``, ``?`` or ``%`` in its name cut the name short, and SQLite opened (and created)
    another file read-write: the figures came out empty."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)


def load_rows(db: sqlite3.Connection, bay: str, t0: float, t1: float) -> list[Row]:
    """The bay's rows from ``t0`` to ``t1``, and the rows outside it of the visits it cuts: the one still
    open at ``t0`` (a fuel car left over a holiday began days before) and those open at ``t1`` (a departure
    or identification after the window). A day's figures are then the same whatever window is asked:
    the daily summary's one day, the page's 30, ``stats --from --to``."""
    decided = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'violations'").fetchone()
    cols = _BASE + (_DISMISSED if decided else "0")  # a store without the violation log's table: none dismissed
    before = db.execute("SELECT type, ts_epoch, visit_id, NULL, json_extract(data, '$.status'), NULL, 0 FROM events "
                        "WHERE bay_id = ? AND type = ? AND ts_epoch < ? ORDER BY ts_epoch DESC LIMIT 1",
                        (bay, CHARGER, t0)).fetchall()  # the charger's state as the window opens
    rows = before + _open_at(db, bay, t0, cols) + db.execute(
        f"SELECT {cols} FROM events WHERE bay_id = ? AND ts_epoch >= ? AND ts_epoch < ? AND type IN ({_MARKS}) "
        "ORDER BY ts_epoch", (bay, t0, t1, *TYPES)).fetchall()
    # visits seen in the window whose arrival is not: stamped earlier than the margin, by a clock NTP set only
    # later (a Pi without RTC boots at 1970 or its last shutdown); their departure (stayed_s) or violation
    # (parked_s) re-dates it, so it is read wherever it was stamped
    unarrived = sorted({r[2] for r in rows if r[2] and r[0] != CHARGER} - {r[2] for r in rows if r[0] == ARRIVED})
    for i in range(0, len(unarrived), _CHUNK):
        ids = unarrived[i:i + _CHUNK]
        rows = db.execute(f"SELECT {cols} FROM events WHERE visit_id IN ({','.join('?' * len(ids))}) "
                          f"AND bay_id = ? AND ts_epoch < ? AND type IN ({_MARKS}) ORDER BY ts_epoch",
                          (*ids, bay, t0, *TYPES)).fetchall() + rows
    open_at_end = sorted({r[2] for r in rows if r[0] == ARRIVED and r[2]} - {r[2] for r in rows if r[0] == DEPARTED})
    for i in range(0, len(open_at_end), _CHUNK):
        ids = open_at_end[i:i + _CHUNK]
        rows += db.execute(f"SELECT {cols} FROM events WHERE visit_id IN ({','.join('?' * len(ids))}) "
                           f"AND bay_id = ? AND ts_epoch >= ? AND type IN ({_MARKS}) ORDER BY ts_epoch",
                           (*ids, bay, t1, *TYPES)).fetchall()
    return [Row(t, ts, bay, v, None if nev is None else bool(nev), st, _seconds(d), bool(x))
            for t, ts, v, nev, st, d, x in rows]


def _open_at(db: sqlite3.Connection, bay: str, t0: float, cols: str) -> list[tuple]:
    """The rows before ``t0`` of the bay's visit still open at ``t0``: its last arrival before ``t0``
    when no departure of that visit came before ``t0`` (earlier visits ended by then, or at that arrival)."""
    last = db.execute("SELECT visit_id FROM events WHERE bay_id = ? AND type = ? AND ts_epoch < ? "
                      "ORDER BY ts_epoch DESC LIMIT 1", (bay, ARRIVED, t0)).fetchone()
    if last is None or last[0] is None or db.execute(
            "SELECT 1 FROM events WHERE visit_id = ? AND type = ? AND ts_epoch < ? LIMIT 1",
            (last[0], DEPARTED, t0)).fetchone():
        return []
    return db.execute(f"SELECT {cols} FROM events WHERE visit_id = ? AND bay_id = ? AND ts_epoch < ? "
                      f"AND type IN ({_MARKS}) ORDER BY ts_epoch", (last[0], bay, t0, *TYPES)).fetchall()


def _seconds(value: object) -> float | None:
    """A stored duration, or None when absent or not a finite number (events are bad input too)."""
    try:
        d = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return d if 0 <= d < float("inf") else None


def load_runs(db: sqlite3.Connection) -> list[tuple[float, float]] | None:
    """When the agent ran, from the run ledger (``evidence/runs.py``): each run from its start to its last alive
    mark (a minute a mark). None without a ledger (a store from before it)."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone():
        return None
    try:
        cols = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
        # the start as the synced clock places it, where the ledger has it (``evidence/runs.py``): one stamped
        # before NTP set the clock merged the run with the one before, and the days between read as watched
        epoch = "started_epoch" if "started_epoch" in cols else "NULL"
        runs = db.execute(f"SELECT started_at, alive_epoch, {epoch} FROM runs ORDER BY id").fetchall()
    except sqlite3.DatabaseError:  # a damaged ledger (the agent logs it at start): figures without it
        return None
    spans = []
    for started, alive, started_epoch in runs:
        try:
            t0 = float(started_epoch) if started_epoch is not None else datetime.fromisoformat(started).timestamp()
            t1 = float(alive)
        except (TypeError, ValueError):
            continue
        if math.isfinite(t0) and math.isfinite(t1):
            spans.append((min(t0, t1), max(t0, t1)))  # a start stamped before a clock step back: still the run
    return spans or None


def query(db_path: str | Path, bays: list[str], start: date, end: date, tz: ZoneInfo, now: float) -> Stats:
    """Statistics for local days ``start``..``end`` (inclusive) from the events in ``db_path``."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    bounds = day_bounds(start, end, tz)
    path = Path(db_path)
    rows: list[Row] = []
    runs = None
    since = None
    if path.exists():
        db = open_read_only(path)
        try:
            runs = load_runs(db)
            since = first_known(db, bays, runs)
            for bay in bays:
                rows += load_rows(db, bay, bounds[0] - MARGIN_S, bounds[-1])
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise  # a store without events yet has no table: empty figures, not an error
        finally:
            db.close()
    return compute(rows, bays, start, end, tz, now, runs, since)


def first_known(db: sqlite3.Connection, bays: list[str], runs: list[tuple[float, float]] | None) -> float | None:
    """The earliest instant the store knows of: its first run's start (the run ledger) or its bays' first event
    (a store from before the ledger holds older events), whichever is earlier. Before it the device was not
    there. None without a ledger (a store from before it, or a damaged one): its events alone cannot say
    when watching began (an empty bay sends none), and such a store's figures stay as they were. One indexed
    ``MIN`` per bay."""
    if not runs:
        return None
    firsts = [db.execute("SELECT MIN(ts_epoch) FROM events WHERE bay_id = ?", (bay,)).fetchone()[0] for bay in bays]
    known = [float(t) for t in firsts if t is not None] + [t0 for t0, _ in runs]
    return min(known) if known else None


def first_event_day(db_path: str | Path, bays: list[str], tz: ZoneInfo, not_before: float) -> date | None:
    """The local day of the earliest stored event of ``bays`` stamped at or after ``not_before`` (epoch s);
    None when there is none. Stamps before it come from a clock that was never set (1970 at boot).
    One indexed ``MIN`` per bay."""
    path = Path(db_path)
    if not path.exists():
        return None
    db = open_read_only(path)
    try:
        firsts = [db.execute("SELECT MIN(ts_epoch) FROM events WHERE bay_id = ? AND ts_epoch >= ?",
                             (bay, not_before)).fetchone()[0] for bay in bays]
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return None
    finally:
        db.close()
    found = [t for t in firsts if t is not None]
    return datetime.fromtimestamp(min(found), tz).date() if found else None
