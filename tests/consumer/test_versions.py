"""A device on a newer payload contract than the consumer's (a 1.6 agent, a 1.5 consumer): its messages are
stored as received and flagged with the version they came with, not dropped and not mixed in unmarked. Before,
the MQTT 5 ``schema-version`` every publish carries was read by nobody, and nothing said a device had moved on."""

from __future__ import annotations

import json
import sqlite3

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.consumer.service import Consumer, newer_contract
from edge_agent.consumer.store import Record, SqliteStore
from edge_agent.events.schemas import SCHEMA_VERSION
from tests.events.helpers import wait_until


def _bump(minor: int = 1, major: int = 0) -> str:
    ours = [int(n) for n in SCHEMA_VERSION.split(".")]
    return f"{ours[0] + major}.{ours[1] + minor}.0"


def _event(i: int, **extra: object) -> bytes:
    return json.dumps({"event_id": f"e-{i}", "type": "vehicle_arrived", "ts": "2026-01-01T08:00:00.000+08:00",
                       "bay_id": "A", "visit_id": "v1", "evidence_id": None, "data": {}, **extra}).encode()


def _publish(port: int, messages: list[tuple[bytes, str | None]]) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="device-sim", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for payload, version in messages:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if version is not None:
                props.UserProperty = ("schema-version", version)
            c.publish("edge/s1/pole-7/events", payload, qos=1, properties=props).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def test_a_later_minor_or_another_major_is_newer_than_ours():
    assert not newer_contract(SCHEMA_VERSION)
    assert newer_contract(_bump(1)) and newer_contract(_bump(0, 1))
    assert not newer_contract("1.0.0", "1.5.0") and newer_contract("1.10.0", "1.9.0")


@pytest.mark.broker
def test_events_of_a_newer_contract_are_stored_flagged_and_said_once(broker, tmp_path, caplog):
    db = tmp_path / "c.sqlite"
    rows = sqlite3.connect(db)
    consumer = Consumer(broker.url(), SqliteStore(db), group="g", client_id="c-versions").start()
    assert consumer.wait_ready(10)
    newer = _bump(1)
    _publish(broker.port, [(_event(1), SCHEMA_VERSION),
                           (_event(2, type="vehicle_teleported", lane=3), newer),  # a new type, a new field
                           (_event(3), newer),
                           (_event(4), None)])  # an MQTT 3.1.1 publisher sends none
    try:
        wait_until(lambda: consumer.counters.received == 4, 20, "every message acknowledged")
    finally:
        consumer.stop()
    stored = dict(rows.execute("SELECT event_id, schema_version FROM events"))
    assert stored == {"e-1": SCHEMA_VERSION, "e-2": newer, "e-3": newer, "e-4": None}
    assert json.loads(rows.execute("SELECT data FROM events WHERE event_id = 'e-2'").fetchone()[0]) == {}
    said = [r.getMessage() for r in caplog.records if f"sends contract {newer}" in r.getMessage()]
    assert len(said) == 1 and "s1/pole-7" in said[0], said


def test_a_database_an_older_consumer_made_gains_the_column(tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:  # the events table as consumers before the column made it
        conn.execute("CREATE TABLE events (event_id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, "
                     "type TEXT NOT NULL, ts TEXT NOT NULL, bay_id TEXT, visit_id TEXT, evidence_id TEXT, "
                     "data TEXT NOT NULL, received_at TEXT NOT NULL)")
        conn.execute("INSERT INTO events VALUES ('old', 's1', 'd', 't', 'x', NULL, NULL, NULL, '{}', 'x')")
        conn.execute("CREATE TABLE bay_states (site TEXT NOT NULL, device TEXT NOT NULL, bay_id TEXT NOT NULL, "
                     "state TEXT NOT NULL, since TEXT NOT NULL, doc TEXT NOT NULL, updated_at TEXT NOT NULL, "
                     "PRIMARY KEY (site, device, bay_id))")
    store = SqliteStore(db)
    store.write([Record("s1", "d", "event", None, json.loads(_event(9)), _bump(1)),
                 Record("s1", "d", "state", "A", {"state": "free", "since": "2026-01-01T08:00:00+08:00",
                                                  "ts": "2026-01-01T08:00:01.5+08:00"})])
    store.close()
    rows = sqlite3.connect(db)
    assert dict(rows.execute("SELECT event_id, schema_version FROM events")) == {"old": None, "e-9": _bump(1)}
    assert rows.execute("SELECT ts FROM bay_states").fetchone()[0] == "2026-01-01T00:00:01.500000+00:00"


@pytest.mark.postgres
def test_a_postgres_database_an_older_consumer_made_gains_the_column(pg_db):
    import psycopg

    from edge_agent.consumer.store import PostgresStore

    with psycopg.connect(pg_db) as conn:
        conn.execute("CREATE TABLE events (event_id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, "
                     "type TEXT NOT NULL, ts TEXT NOT NULL, bay_id TEXT, visit_id TEXT, evidence_id TEXT, "
                     "data JSONB NOT NULL, received_at TEXT NOT NULL)")
    store = PostgresStore(pg_db)
    store.write([Record("s1", "d", "event", None, json.loads(_event(9)), _bump(1))])
    store.close()
    PostgresStore(pg_db).close()  # and a second start finds it there
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT event_id, schema_version FROM events").fetchall() == [("e-9", _bump(1))]
