"""A consumer restarted with another subscription under the same client id (and so the same persistent session).

Found by review46: the session keeps every subscription the client ever made, and the consumer only ever added
its current ones. An instance upgraded from 0.23.0 (whose default put it in ``$share/edge-consumers/…``) kept that
shared subscription beside its new plain one: every event came twice (stored once, on its
event_id). An instance given ``--group`` later kept its plain subscription: each member received every
message, so adding members split nothing.
"""

from __future__ import annotations

import sqlite3

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import SqliteStore
from tests.events.helpers import wait_until

EVENTS = 20


def _publish(port: int, first: int = 0) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agent-stand-in", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        for i in range(first, first + EVENTS):
            body = f'{{"event_id": "00000000-0000-0000-0000-{i:012d}", "type": "t", "ts": "2026-01-01T08:00:00Z"}}'
            info = pub.publish("edge/s1/d1/events", body, qos=1)
            info.wait_for_publish(5)
            assert info.is_published()
    finally:
        pub.loop_stop()
        pub.disconnect()


def _session(broker, db, group: str | None, client_id: str = "c1") -> Consumer:  # noqa: ANN001
    c = Consumer(broker.url(), SqliteStore(db), group=group, client_id=client_id).start()
    assert c.wait_ready()
    return c


@pytest.mark.broker
def test_an_instance_upgraded_from_the_old_default_group_receives_each_event_once(broker, tmp_path):
    db = tmp_path / "e.sqlite"
    _session(broker, db, "edge-consumers").stop()  # 0.23.0's default: its session holds the $share filters
    again = _session(broker, db, None)
    try:
        _publish(broker.port)
        wait_until(lambda: again.counters.written >= EVENTS, 10, "the events")
        _publish(broker.port, EVENTS)  # a second round: whatever the first brought twice has arrived by its end
        wait_until(lambda: again.counters.written >= 2 * EVENTS, 10, "the second round")
    finally:
        again.stop()
    assert again.counters.received == 2 * EVENTS  # not 4x: the old shared filters left the session
    assert sqlite3.connect(db).execute("SELECT count(*) FROM events").fetchone()[0] == 2 * EVENTS


@pytest.mark.broker
def test_instances_given_a_group_later_split_the_events(broker, tmp_path):
    dbs = [tmp_path / "a.sqlite", tmp_path / "b.sqlite"]
    for db, cid in zip(dbs, ("c1", "c2")):
        _session(broker, db, None, cid).stop()  # each ran alone first, plainly
    members = [_session(broker, db, "backend", cid) for db, cid in zip(dbs, ("c1", "c2"))]
    try:
        _publish(broker.port)
        wait_until(lambda: sum(m.counters.written for m in members) >= EVENTS, 10, "the events")
        _publish(broker.port, EVENTS)
        wait_until(lambda: sum(m.counters.written for m in members) >= 2 * EVENTS, 10, "the second round")
    finally:
        for m in members:
            m.stop()
    assert sum(m.counters.received for m in members) == 2 * EVENTS  # each event to one member, not to both


@pytest.mark.broker
def test_two_plain_instances_each_store_every_event_once_and_a_group_splits(broker, tmp_path):
    shared = tmp_path / "one.sqlite"
    plain = [_session(broker, shared, None, cid) for cid in ("p1", "p2")]
    try:
        _publish(broker.port)
        wait_until(lambda: all(p.counters.written >= EVENTS for p in plain), 10, "every event to each")
    finally:
        for p in plain:
            p.stop()
    assert [p.counters.received for p in plain] == [EVENTS, EVENTS]
    assert sqlite3.connect(shared).execute("SELECT count(*) FROM events").fetchone()[0] == EVENTS
