"""A per-device quota on what the consumer stores. Before it, one device's credentials publishing 1 MB events with
new ``event_id``s stored 300 of them (416 MB of SQLite) in 5.5 s on loopback, and nothing stopped it short of a
full disk; past its quota a device's messages are refused (logged, counted) while the others' are all stored."""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest

from edge_agent.consumer.quota import ROW_COST, DeviceQuota
from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import SqliteStore
from tests.consumer.device import publish_as_device
from tests.events.helpers import wait_until


def _event(eid: str, pad: int = 2000) -> bytes:
    return json.dumps({"event_id": eid, "type": "vehicle_arrived", "ts": "2026-01-01T08:00:00.000+08:00",
                       "data": {"pad": "x" * pad}}).encode()


@pytest.mark.broker
def test_a_device_over_its_quota_is_refused_and_the_others_are_all_stored(broker, tmp_path, caplog):
    db, now = tmp_path / "c.sqlite", [1000.0]
    quota = DeviceQuota(mib_per_day=10 * (len(_event("bad-00")) + ROW_COST) / (1 << 20))  # ten such events
    consumer = Consumer(broker.url(), SqliteStore(db), group="g", client_id="c-quota", clock=lambda: now[0],
                        quota=quota).start()
    assert consumer.wait_ready(10)
    caplog.set_level(logging.WARNING, "edge_agent.consumer.service")
    try:
        publish_as_device(broker.port, [("edge/s1/bad/events", _event(f"bad-{i:02d}")) for i in range(30)]
                          + [("edge/s1/bad/status", b'{"state": "online"}')]  # a status costs too
                          + [("edge/s1/good/events", _event(f"good-{i}")) for i in range(5)])
        wait_until(lambda: consumer.counters.received == 36, 20, "every message handled")
        assert consumer.counters.over_quota == 21
        now[0] += 86400 / 10 * 1.01  # a tenth of a day: room for one more
        publish_as_device(broker.port, [("edge/s1/bad/events", _event("bad-late"))])
        wait_until(lambda: consumer.counters.received == 37, 20, "the later event handled")
    finally:
        consumer.stop()
    rows = sqlite3.connect(db)
    per_device = dict(rows.execute("SELECT device, count(*) FROM events GROUP BY device").fetchall())
    assert per_device == {"bad": 11, "good": 5}
    assert rows.execute("SELECT 1 FROM events WHERE event_id = 'bad-late'").fetchone()
    assert rows.execute("SELECT status FROM devices WHERE device = 'bad'").fetchone() == (None,)
    said = [r.getMessage() for r in caplog.records if "quota" in r.getMessage()]
    assert len(said) == 2, said
    assert "s1/bad is over its quota" in said[0] and "--device-mib-per-day" in said[0]
    assert "21 message(s)" in said[1]


def test_a_heartbeat_costs_only_as_often_as_it_may_become_a_row():
    q, cost = DeviceQuota(mib_per_day=3 * (1000 + ROW_COST) / (1 << 20)), 1000
    assert all(q.take(("s", "d"), cost, 0.0 + i, row_every_s=10.0)[0] for i in range(10))  # one row: one cost
    assert q.take(("s", "d"), cost, 10.0, row_every_s=10.0)[0]  # the next row
    assert q.take(("s", "d"), cost, 10.5)[0]  # an event
    assert q.take(("s", "d"), cost, 10.6) == (False, 1, cost)  # the bucket is empty
    assert q.take(("s", "other"), cost, 10.6)[0]  # another device has its own


def test_buckets_of_devices_within_their_quota_are_forgotten(monkeypatch):
    monkeypatch.setattr("edge_agent.consumer.quota.TRACKED", 8)
    q = DeviceQuota(mib_per_day=1.0)
    for i in range(8):
        q.take(("s", f"d{i}"), 100, 0.0)
    q.take(("s", "d8"), 100, 86400.0)  # a day later the first eight have refilled: forgotten
    assert list(q._buckets) == [("s", "d8")]
