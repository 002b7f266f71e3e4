"""Heartbeats in the consumer's database are bounded per device (a real mosquitto, real SQLite, an injected clock).

Before: every heartbeat with a new ``ts`` was a row in ``health``, kept for ever. The agent's ``mqtt.heartbeat_s``
may be any value over 0, and a device's credentials publish whatever they like on its health topic: 300
heartbeats were 300 rows, and nothing ever deleted one. Now at most one row per device every ``health_every_s``
(the latest heartbeat is still ``devices.last_health``), deleted ``health_days`` after it was received."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest

from edge_agent.clock import FakeClock
from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import PRUNE_EVERY_S, Record, SqliteStore
from tests.consumer.device import publish_as_device
from tests.events.helpers import wait_until


def _beats(device: str, start: int, count: int) -> list[tuple[str, bytes]]:
    return [(f"edge/s1/{device}/health", json.dumps({"ts": f"2026-01-01T08:00:{i // 1000:02d}.{i % 1000:03d}+08:00",
                                                     "n": i}).encode()) for i in range(start, start + count)]


@pytest.mark.broker
def test_heartbeats_are_one_row_per_device_each_period_and_expire(broker, tmp_path):
    db, clock = tmp_path / "c.sqlite", FakeClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    store = SqliteStore(db, health_every_s=10, health_days=7, clock=clock.now)
    consumer = Consumer(broker.url(), store, group="g", client_id="c-health")
    consumer.start()
    assert consumer.wait_ready(10)
    rows = sqlite3.connect(db)

    def count(device: str | None = None) -> int:
        if device is None:
            return rows.execute("SELECT count(*) FROM health").fetchone()[0]
        return rows.execute("SELECT count(*) FROM health WHERE device = ?", (device,)).fetchone()[0]

    def last(device: str) -> int:
        doc = rows.execute("SELECT last_health FROM devices WHERE device = ?", (device,)).fetchone()[0]
        return json.loads(doc)["n"]

    try:
        publish_as_device(broker.port, _beats("d1", 0, 150) + _beats("d2", 0, 150))
        wait_until(lambda: consumer.counters.written == 300, 20, "every heartbeat written")
        assert (count("d1"), count("d2")) == (1, 1)  # one each, not 150
        assert (last("d1"), last("d2")) == (149, 149)  # the latest is kept all the same
        clock.advance(10.5)
        publish_as_device(broker.port, _beats("d1", 150, 5))
        wait_until(lambda: consumer.counters.written == 305, 20, "the next period's heartbeats")
        assert count("d1") == 2 and last("d1") == 154
        clock.advance(7 * 86400 + PRUNE_EVERY_S)
        publish_as_device(broker.port, _beats("d2", 200, 1))
        wait_until(lambda: consumer.counters.written == 306, 20, "a heartbeat a week later")
        assert (count("d1"), count("d2")) == (0, 1)  # the week-old rows are gone; the new one is kept
        assert last("d1") == 154  # a device's last heartbeat stays in its row
    finally:
        consumer.stop()
        rows.close()


def test_a_database_an_older_consumer_made_keeps_its_heartbeats_and_stores_the_next_at_once(tmp_path):
    """0.14.0's ``health`` table had no ``received_at``: its rows are kept ``health_days`` from the upgrade. Until
    2026-12-05 they were stamped with the upgrade's instant, so they counted as "recent" and every device's first
    heartbeat for ``health_every_s`` (up to a day) after the upgrade was no row."""
    db = tmp_path / "c.sqlite"
    old = sqlite3.connect(db)  # the table as 0.14.0's consumer made it (6c9d8e8), with its rows
    old.execute("CREATE TABLE health (site TEXT NOT NULL, device TEXT NOT NULL, ts TEXT NOT NULL, doc TEXT NOT NULL, "
                "PRIMARY KEY (site, device, ts))")
    old.executemany("INSERT INTO health VALUES ('s1', 'd1', ?, '{}')", [(f"2026-01-01T00:00:0{i}+08:00",) for i in
                                                                        range(3)])
    old.commit()
    old.close()
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    store = SqliteStore(db, health_every_s=3600, health_days=30, clock=clock.now)
    try:
        store.write([Record("s1", "d1", "health", None, {"ts": "2026-03-01T08:00:00+08:00", "n": 1})])
        rows = store.conn.execute("SELECT ts FROM health ORDER BY ts").fetchall()
        assert [r[0] for r in rows][-1] == "2026-03-01T08:00:00+08:00" and len(rows) == 4
        clock.advance(29 * 86400)
        store.write([Record("s1", "d1", "health", None, {"ts": "2026-03-30T08:00:00+08:00", "n": 2})])
        assert store.conn.execute("SELECT count(*) FROM health").fetchone()[0] == 5  # the old ones still kept
        clock.advance(86400 + PRUNE_EVERY_S)
        store.write([Record("s1", "d1", "health", None, {"ts": "2026-03-31T09:00:00+08:00", "n": 3})])
        kept = [r[0] for r in store.conn.execute("SELECT ts FROM health ORDER BY ts")]
        assert kept == ["2026-03-30T08:00:00+08:00", "2026-03-31T09:00:00+08:00"]  # 30 days on: the old rows gone
    finally:
        store.close()
