"""Stored events: ordered by instant, kept ``event_days`` (a real mosquitto, real SQLite and PostgreSQL, an injected
clock).

Before: ``events.ts`` was the device's text, the only time there was to sort by. ``01:10-05:00`` (the second 01:10 of
the night New York's clocks go back) sorted before ``01:50-04:00`` (the first, 40 minutes earlier), and a device in
+08:00 sorted after one in UTC whatever the instants. Now ``ts_utc`` holds the instant in UTC (``ts`` stays as
written). And nothing ever deleted an event: a backend of 500 devices grew for ever."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest

from edge_agent.cli import build_parser
from edge_agent.clock import FakeClock
from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import PRUNE_EVERY_S, PostgresStore, Record, SqliteStore
from tests.consumer.device import publish_as_device
from tests.events.helpers import wait_until

DAY = 86400.0
# (device, event, ts), in the order they happened
HAPPENED = [
    ("ny", "e-1", "2026-11-01T01:50:00.000-04:00"),  # 05:50 UTC, summer time
    ("sh", "e-2", "2026-11-01T13:55:00.000+08:00"),  # 05:55 UTC, another zone
    ("ny", "e-3", "2026-11-01T01:10:00.000-05:00"),  # 06:10 UTC: the clocks went back, 01:10 again
    ("ldn", "e-4", "2026-11-01T06:20:00.000Z"),
]


def _event(device: str, event_id: str, ts: str) -> tuple[str, bytes]:
    return (f"edge/s1/{device}/events", json.dumps({"event_id": event_id, "type": "vehicle_arrived", "ts": ts,
                                                    "bay_id": "A", "data": {}}).encode())


def _record(event_id: str, ts: str) -> Record:
    return Record("s1", "d1", "event", None, {"event_id": event_id, "type": "vehicle_arrived", "ts": ts, "data": {}})


@pytest.mark.broker
def test_events_are_ordered_by_instant_across_a_dst_fall_back_and_zones_and_expire(broker, tmp_path):
    db, clock = tmp_path / "c.sqlite", FakeClock(datetime(2026, 11, 1, 7, tzinfo=timezone.utc))
    store = SqliteStore(db, event_days=30, clock=clock.now)
    consumer = Consumer(broker.url(), store, group="g", client_id="c-times")
    consumer.start()
    assert consumer.wait_ready(10)
    rows = sqlite3.connect(db)
    try:
        publish_as_device(broker.port, [_event(*e) for e in reversed(HAPPENED)])
        wait_until(lambda: consumer.counters.written == 4, 20, "every event written")
        assert [r[0] for r in rows.execute("SELECT event_id FROM events ORDER BY ts_utc")] == ["e-1", "e-2", "e-3",
                                                                                               "e-4"]
        assert [r[0] for r in rows.execute("SELECT event_id FROM events WHERE device = 'ny' ORDER BY ts_utc")] == [
            "e-1", "e-3"]
        assert rows.execute("SELECT ts, ts_utc FROM events WHERE event_id = 'e-3'").fetchone() == (
            "2026-11-01T01:10:00.000-05:00", "2026-11-01T06:10:00.000000+00:00")  # the device's text kept
        clock.advance(29 * DAY)
        publish_as_device(broker.port, [_event("ny", "e-5", "2026-11-30T02:00:00.000-05:00")])
        wait_until(lambda: consumer.counters.written == 5, 20, "an event 29 days later")
        assert rows.execute("SELECT count(*) FROM events").fetchone()[0] == 5
        clock.advance(DAY + PRUNE_EVERY_S)
        publish_as_device(broker.port, [_event("ny", "e-6", "2026-12-01T03:00:00.000-05:00")])
        wait_until(lambda: consumer.counters.written == 6, 20, "an event 30 days later")
        # received more than 30 days ago: gone, whatever the devices' clocks say
        assert [r[0] for r in rows.execute("SELECT event_id FROM events ORDER BY ts_utc")] == ["e-5", "e-6"]
    finally:
        consumer.stop()
        rows.close()


def test_a_ts_that_is_no_aware_time_is_ordered_by_when_it_was_received(tmp_path):
    clock = FakeClock(datetime(2026, 11, 1, 7, tzinfo=timezone.utc))
    store = SqliteStore(tmp_path / "c.sqlite", clock=clock.now)
    try:
        store.write([_record("naive", "2026-11-01T01:00:00"), _record("garbage", "yesterday")])
        got = dict(store.conn.execute("SELECT event_id, ts_utc FROM events"))
        assert got == {"naive": "2026-11-01T07:00:00.000000+00:00", "garbage": "2026-11-01T07:00:00.000000+00:00"}
    finally:
        store.close()


def test_events_an_older_consumer_stored_get_their_utc_instant_at_the_first_start(tmp_path):
    db = tmp_path / "c.sqlite"
    SqliteStore(db).close()
    old = sqlite3.connect(db)  # the table as the consumer before ts_utc made it, with its rows
    for index in ("events_site_ts_utc", "events_ts_utc"):
        old.execute(f"DROP INDEX {index}")
    old.execute("ALTER TABLE events DROP COLUMN ts_utc")
    old.executemany("INSERT INTO events (event_id, site, device, type, ts, data, received_at) VALUES "
                    "(?, 's1', 'ny', 'vehicle_arrived', ?, '{}', '2026-11-01T07:00:00.000+00:00')",
                    [(e, ts) for _, e, ts in HAPPENED] + [("no-time", "not a time")])
    old.commit()
    old.close()
    store = SqliteStore(db, clock=FakeClock(datetime(2026, 11, 2, tzinfo=timezone.utc)).now)
    try:
        order = [r[0] for r in store.conn.execute("SELECT event_id FROM events ORDER BY ts_utc")]
        assert order == ["e-1", "e-2", "e-3", "e-4", "no-time"]  # the last one: when it was received
    finally:
        store.close()


def test_an_upgraded_database_keeps_its_older_events_unless_asked_and_fills_their_utc_in_batches(tmp_path, monkeypatch):
    """Review22: with a 400-day default, the first write after the upgrade deleted 1,000 of 1,000 events received
    552 days before (nothing had ever deleted an event); and the first start read every row lacking ``ts_utc`` at
    once (300,000 rows: 14 → 155 MB)."""
    db = tmp_path / "c.sqlite"
    SqliteStore(db).close()
    old = sqlite3.connect(db)
    for index in ("events_site_ts_utc", "events_ts_utc"):
        old.execute(f"DROP INDEX {index}")
    old.execute("ALTER TABLE events DROP COLUMN ts_utc")
    old.executemany("INSERT INTO events (event_id, site, device, type, ts, data, received_at) VALUES "
                    "(?, 's1', 'd1', 'vehicle_arrived', ?, '{}', ?)",
                    [(f"old-{i:02d}", f"2025-06-01T08:{i:02d}:00.000+08:00", "2025-06-01T00:00:00.000+00:00")
                     for i in range(7)])
    old.commit()
    old.close()
    monkeypatch.setattr("edge_agent.consumer.store.UTC_BATCH", 2)  # four batches, the last one short
    clock = FakeClock(datetime(2026, 12, 5, tzinfo=timezone.utc))  # 552 days later
    store = SqliteStore(db, clock=clock.now)
    try:
        store.write([_record("new", "2026-12-05T08:00:00.000+08:00")])
        rows = store.conn.execute("SELECT event_id, ts_utc FROM events ORDER BY ts_utc").fetchall()
        assert [r[0] for r in rows] == [f"old-{i:02d}" for i in range(7)] + ["new"]
        assert rows[0][1] == "2025-06-01T00:00:00.000000+00:00" and all(r[1] for r in rows)
    finally:
        store.close()
    asked = SqliteStore(db, event_days=400, clock=clock.now)
    try:
        asked.write([_record("newer", "2026-12-05T09:00:00.000+08:00")])
        assert {r[0] for r in asked.conn.execute("SELECT event_id FROM events")} == {"new", "newer"}
    finally:
        asked.close()


@pytest.mark.postgres
def test_postgres_orders_by_instant_and_expires_events(pg_db):
    import psycopg

    clock = FakeClock(datetime(2026, 11, 1, 7, tzinfo=timezone.utc))
    store = PostgresStore(pg_db, event_days=30, clock=clock.now)
    try:
        store.write([_record(e, ts) for _, e, ts in reversed(HAPPENED)])
        with psycopg.connect(pg_db) as conn:
            assert [r[0] for r in conn.execute("SELECT event_id FROM events ORDER BY ts_utc")] == [
                "e-1", "e-2", "e-3", "e-4"]
        clock.advance(30 * DAY + PRUNE_EVERY_S)
        store.write([_record("e-5", "2026-12-01T03:00:00.000-05:00")])
        with psycopg.connect(pg_db) as conn:
            assert [r[0] for r in conn.execute("SELECT event_id FROM events")] == ["e-5"]
    finally:
        store.close()


@pytest.mark.parametrize("value", ["0", "-1", "3651", "nan", "inf", "soon"])
def test_event_days_is_a_number_over_0_at_most_3650(value, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["consume", "--event-days", value])
    assert exc.value.code == 2
    assert f"argument --event-days: {value!r}" in capsys.readouterr().err
    assert build_parser().parse_args(["consume"]).event_days is None  # opt-in: nothing deleted unless asked
    with pytest.raises(ValueError, match="event_days"):
        SqliteStore(":memory:", event_days=float("nan"))
