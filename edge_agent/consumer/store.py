"""Where consumed messages land: PostgreSQL for a fleet, SQLite as the embedded default.

Every write is idempotent, so a redelivered message (QoS 1 is at-least-once; a consumer killed
before its PUBACK gets it again) never makes a second row:

- ``events``       one row per ``event_id`` (primary key; ``ON CONFLICT DO NOTHING``): ``ts`` as the device wrote it,
                   ``ts_utc`` the same instant in UTC (what to order by), kept ``event_days`` after it was received
- ``health``       one row per (site, device, ts), at most one per device every ``health_every_s`` (the others
                   update ``devices.last_health`` only), kept ``health_days`` after it was received
- ``bay_states``   the current state per (site, device, bay): the newest ``since`` wins; an empty retained
                   state (the device cleared it: the bay left its config) deletes the row
- ``devices``      the current per-device view: status (online/offline), last health, last seen

A batch is one transaction; the caller acknowledges the batch's messages only after ``write`` returns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from edge_agent.clock import parse_iso


@dataclass(frozen=True)
class Record:
    """One parsed message: which device it came from, what kind, and its JSON document."""

    site: str
    device: str
    kind: str  # "event" | "state" | "state_cleared" (an empty retained state: the bay left the config) | "health" | "status"
    bay_id: str | None
    doc: dict[str, Any]
    schema: str | None = None  # the MQTT 5 user property ``schema-version`` it came with (None under 3.1.1)


SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id    TEXT PRIMARY KEY,
    site        TEXT NOT NULL,
    device      TEXT NOT NULL,
    type        TEXT NOT NULL,
    ts          TEXT NOT NULL,
    bay_id      TEXT,
    visit_id    TEXT,
    evidence_id TEXT,
    data        {json} NOT NULL,
    received_at TEXT NOT NULL,
    schema_version TEXT,
    ts_utc      TEXT
);
CREATE INDEX IF NOT EXISTS events_site_ts ON events (site, device, ts);
CREATE TABLE IF NOT EXISTS health (
    site   TEXT NOT NULL,
    device TEXT NOT NULL,
    ts     TEXT NOT NULL,
    doc    {json} NOT NULL,
    received_at TEXT,
    PRIMARY KEY (site, device, ts)
);
CREATE TABLE IF NOT EXISTS bay_states (
    site       TEXT NOT NULL,
    device     TEXT NOT NULL,
    bay_id     TEXT NOT NULL,
    state      TEXT NOT NULL,
    since      TEXT NOT NULL,
    doc        {json} NOT NULL,
    updated_at TEXT NOT NULL,
    ts         TEXT,
    PRIMARY KEY (site, device, bay_id)
);
CREATE TABLE IF NOT EXISTS devices (
    site        TEXT NOT NULL,
    device      TEXT NOT NULL,
    status      TEXT,
    last_health {json},
    last_seen   TEXT NOT NULL,
    PRIMARY KEY (site, device)
);
"""

_EVENT = ("INSERT INTO events (event_id, site, device, type, ts, bay_id, visit_id, evidence_id, data, received_at, "
          "schema_version, ts_utc) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) "
          "ON CONFLICT (event_id) DO NOTHING")
_EVENT_PRUNE = "DELETE FROM events WHERE received_at < {p}"
# rows an older consumer (or one of an older version sharing the group) stored without ``ts_utc``
_EVENT_NO_UTC = "SELECT event_id, ts, received_at FROM events WHERE ts_utc IS NULL"
_EVENT_SET_UTC = "UPDATE events SET ts_utc = {p} WHERE event_id = {p}"
_HEALTH = ("INSERT INTO health (site, device, ts, doc, received_at) VALUES ({p}, {p}, {p}, {p}, {p}) "
           "ON CONFLICT DO NOTHING")
_HEALTH_RECENT = "SELECT 1 FROM health WHERE site = {p} AND device = {p} AND received_at > {p} LIMIT 1"
_HEALTH_PRUNE = "DELETE FROM health WHERE received_at < {p}"
#: a heartbeat row per device at most this often by default: the agent's ``mqtt.heartbeat_s`` is 60 s by default
#: but any value over 0 is valid, and a device's credentials flooded its health topic with one-byte heartbeats of
#: distinct ``ts``, each a row kept for ever. The latest is always in ``devices.last_health``
HEALTH_EVERY_S = 10.0
#: heartbeat rows kept this many days after they were received by default
HEALTH_DAYS = 30.0
#: events are kept for ever unless ``event_days`` is given (opt-in: the backend's history is the backend's to cut; a
#: default that deleted would empty an upgraded database's older years at its first write). Counted from when they were
#: received: a device's ``ts`` is no age to go by (a clock run ahead kept its events for ever, one behind lost them)
EVENT_DAYS: float | None = None
#: rows lacking ``ts_utc`` filled per batch: an older database's 300,000 events read at once took 140 MB
UTC_BATCH = 5000
#: expired heartbeat and event rows are deleted at most this often (a write's batch does it)
PRUNE_EVERY_S = 3600.0
# the newest `since` wins; for one `since` (the lock moved, a plate was read: the state published again) the
# latest `ts`: consumers sharing a group commit one bay's messages in any order (of 200 bays whose lock went
# moving, moving, down, 120 were left `moving` by two consumers ordering by `since` alone)
_STATE = ("INSERT INTO bay_states (site, device, bay_id, state, since, doc, updated_at, ts) "
          "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (site, device, bay_id) DO UPDATE SET "
          "state = excluded.state, since = excluded.since, doc = excluded.doc, updated_at = excluded.updated_at, "
          "ts = excluded.ts WHERE excluded.since > bay_states.since OR (excluded.since = bay_states.since AND "
          "(excluded.ts IS NULL OR bay_states.ts IS NULL OR excluded.ts >= bay_states.ts))")
_SEEN = ("INSERT INTO devices (site, device, last_seen) VALUES ({p}, {p}, {p}) "
         "ON CONFLICT (site, device) DO UPDATE SET last_seen = excluded.last_seen")
_STATE_CLEARED = "DELETE FROM bay_states WHERE site = {p} AND device = {p} AND bay_id = {p}"
_STATUS = "UPDATE devices SET status = {p} WHERE site = {p} AND device = {p}"
_LAST_HEALTH = "UPDATE devices SET last_health = {p} WHERE site = {p} AND device = {p}"


def _wall() -> datetime:
    return datetime.now(timezone.utc)


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def utc_instant(text: object, default: str | None) -> str | None:
    """``since`` as the column keeps it: UTC, microseconds, so text order is time order. Devices stamp in
    their site's zone, and an offset that changes (a new ``site.timezone``, summer time) compared as text put
    08:00+08:00 after 01:30+00:00. Not an aware ISO-8601 time: ``default`` (the time it was received)."""
    if isinstance(text, str):
        try:
            when = parse_iso(text)
        except ValueError:
            return default
        if when.tzinfo is not None:
            try:
                return when.astimezone(timezone.utc).isoformat(timespec="microseconds")
            except OverflowError:  # 0001-01-01T00:00:00+14:00: raised in the write, which was retried for ever
                return default
    return default


class Store(Protocol):
    def write(self, batch: list[Record]) -> None: ...
    def close(self) -> None: ...


class _SqlStore:
    """The statements both engines share; subclasses say how to connect and how placeholders look."""

    placeholder = "?"
    json_type = "TEXT"

    def __init__(self, conn: Any, health_every_s: float = HEALTH_EVERY_S, health_days: float = HEALTH_DAYS,
                 clock: Callable[[], datetime] = _wall, event_days: float | None = EVENT_DAYS) -> None:
        """``health_every_s``: at most one heartbeat row per device this often (0: every one);
        ``health_days`` / ``event_days``: heartbeat / event rows kept this long after they were received (events:
        ``None``, for ever);
        ``clock``: aware UTC time."""
        if not (0 <= health_every_s <= 86400 and 0 < health_days <= 3650
                and (event_days is None or 0 < event_days <= 3650)):
            raise ValueError("health_every_s is 0-86400, health_days and event_days (or none) over 0, at most 3650")
        self.conn = conn
        self.health_every_s, self.health_days, self._clock = health_every_s, health_days, clock
        self.event_days = event_days
        self._pruned_at: datetime | None = None
        self._before_schema()
        for stmt in SCHEMA.format(json=self.json_type).split(";"):
            if stmt.strip():
                self.conn.execute(stmt)
        self._add_columns()
        self._utc_since()
        self.conn.commit()

    def _add_columns(self) -> None:
        """Columns a newer consumer added, on a database an older one made (``CREATE … IF NOT EXISTS`` keeps
        an existing table as it was)."""
        for table, column in (("events", "schema_version"), ("bay_states", "ts"), ("health", "received_at"),
                              ("events", "ts_utc")):
            cur = self.conn.execute(f"SELECT * FROM {table} LIMIT 0")
            if column not in {c[0] for c in cur.description}:
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
        # an older consumer's heartbeat rows: their retention counts from now, less one period: stamped ``now`` they
        # were "recent" and held back every device's first heartbeat for ``health_every_s`` (up to a day)
        self.conn.execute(self._sql("UPDATE health SET received_at = {p} WHERE received_at IS NULL"),
                          (_iso(self._clock() - timedelta(seconds=self.health_every_s)),))
        self.conn.execute("CREATE INDEX IF NOT EXISTS health_received ON health (site, device, received_at)")
        # the order of events: one device's, and every device's (sites in different zones); and their retention
        self.conn.execute("CREATE INDEX IF NOT EXISTS events_site_ts_utc ON events (site, device, ts_utc)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS events_ts_utc ON events (ts_utc)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS events_received ON events (received_at)")
        self._utc_events()

    def _utc_events(self) -> None:
        """``ts_utc`` for the rows that lack it: an older consumer's (at the first start), or one of an older version
        sharing the group (at the next hourly prune). From ``ts``; one no aware time, the time it was received."""
        cur = self.conn.cursor()
        after = ""  # by event_id, so a row left without a time (nothing readable in it) is not read again
        while rows := cur.execute(self._sql(f"{_EVENT_NO_UTC} AND event_id > {{p}} ORDER BY event_id LIMIT {UTC_BATCH}"),
                                  (after,)).fetchall():
            cur.executemany(self._sql(_EVENT_SET_UTC),
                            [(utc_instant(ts, utc_instant(received, received)), event_id)
                             for event_id, ts, received in rows])
            after = rows[-1][0]

    def _utc_since(self) -> None:
        """Rows an older consumer stored kept the device's offset: rewrite them as UTC (one row per bay)."""
        rows = self.conn.execute("SELECT site, device, bay_id, since FROM bay_states").fetchall()
        for site, device, bay_id, since in rows:
            utc = utc_instant(since, since)
            if utc != since:
                self.conn.execute(self._sql("UPDATE bay_states SET since = {p} WHERE site = {p} AND device = {p} "
                                            "AND bay_id = {p}"), (utc, site, device, bay_id))

    def _before_schema(self) -> None:
        """Hook run inside the schema-creating transaction."""

    def _sql(self, template: str) -> str:
        return template.format(p=self.placeholder)

    def _connected(self) -> None:
        """Hook run before each batch: a connection the server closed is opened again."""

    def write(self, batch: list[Record]) -> None:
        self._connected()
        clock = self._clock()
        now = _iso(clock)
        now_us = utc_instant(now, now)
        recent = _iso(clock - timedelta(seconds=self.health_every_s))
        cur = self.conn.cursor()
        try:
            if self._pruned_at is None or not timedelta(0) <= clock - self._pruned_at < timedelta(seconds=PRUNE_EVERY_S):
                cur.execute(self._sql(_HEALTH_PRUNE), (_iso(clock - timedelta(days=self.health_days)),))
                if self.event_days is not None:
                    cur.execute(self._sql(_EVENT_PRUNE), (_iso(clock - timedelta(days=self.event_days)),))
                self._utc_events()
                self._pruned_at = clock
            for r in batch:
                body = json.dumps(r.doc, ensure_ascii=False)
                cur.execute(self._sql(_SEEN), (r.site, r.device, now))
                if r.kind == "event":
                    d = r.doc
                    cur.execute(self._sql(_EVENT), (d["event_id"], r.site, r.device, d["type"], d["ts"], d.get("bay_id"),
                                                    d.get("visit_id"), d.get("evidence_id"),
                                                    json.dumps(d.get("data", {}), ensure_ascii=False), now,
                                                    r.schema, utc_instant(d["ts"], now_us)))
                elif r.kind == "health":
                    if not self.health_every_s or cur.execute(self._sql(_HEALTH_RECENT),
                                                              (r.site, r.device, recent)).fetchone() is None:
                        cur.execute(self._sql(_HEALTH), (r.site, r.device, r.doc.get("ts", now), body, now))
                    cur.execute(self._sql(_LAST_HEALTH), (body, r.site, r.device))
                elif r.kind == "state" and r.bay_id is not None:
                    cur.execute(self._sql(_STATE), (r.site, r.device, r.bay_id, r.doc.get("state", "unknown"),
                                                    utc_instant(r.doc.get("since"), now_us), body, now,
                                                    utc_instant(r.doc.get("ts"), None)))
                elif r.kind == "state_cleared" and r.bay_id is not None:
                    cur.execute(self._sql(_STATE_CLEARED), (r.site, r.device, r.bay_id))
                elif r.kind == "status":
                    cur.execute(self._sql(_STATUS), (r.doc.get("state"), r.site, r.device))
            self.conn.commit()
        except Exception:
            try:
                self.conn.rollback()
            except Exception:  # noqa: BLE001 - a connection the server closed: the write's own error says why
                pass
            raise

    def close(self) -> None:
        self.conn.close()


class SqliteStore(_SqlStore):
    """The embedded default: one file, WAL, a committed batch survives a power cut."""

    def __init__(self, path: str | Path, **keep: Any) -> None:
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")  # events name plates: a deleted row's bytes overwritten
        super().__init__(conn, **keep)

    def _before_schema(self) -> None:
        # Consumers starting together on an older consumer's database each saw a column missing and added it: all
        # but one failed "duplicate column name" (3 of 4 on 0.14.0's, ``received_at``). The write lock first: the
        # others wait for this one's schema (``timeout``, 5 s), then find it done; committed at the end of set-up.
        self.conn.execute("BEGIN IMMEDIATE")


class PostgresStore(_SqlStore):
    """PostgreSQL through psycopg 3 (the ``consumer`` extra)."""

    placeholder = "%s"
    json_type = "JSONB"

    def __init__(self, dsn: str, **keep: Any) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("PostgreSQL needs psycopg: pip install -e '.[consumer]' in the source checkout") from exc
        self._dsn, self._psycopg = dsn, psycopg
        super().__init__(psycopg.connect(dsn), **keep)

    def _connected(self) -> None:
        """A server that restarted (or a failover, an idle timeout) closed the connection for good: each retry
        wrote to it again, "the connection is closed", and the consumer held every message until it was
        restarted itself. Open a new one; while the server is still down that raises, and the batch waits."""
        if self.conn.closed:
            self.conn = self._psycopg.connect(self._dsn)

    def _before_schema(self) -> None:
        # Consumers starting together would race on CREATE TABLE IF NOT EXISTS (PostgreSQL raises a unique
        # violation on its catalogue); one transaction-scoped advisory lock serialises the schema set-up.
        self.conn.execute("SELECT pg_advisory_xact_lock(7312040)")


def open_store(url: str, **keep: Any) -> Store:
    """``postgresql://…`` → PostgreSQL; ``sqlite:///path`` or a plain path → SQLite. ``keep``: the heartbeats'
    ``health_every_s`` / ``health_days``, the events' ``event_days``."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, **keep)
    return SqliteStore(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url, **keep)
