"""Messages wait in memory while the database is down or slower than the broker. QoS 1 ones are bounded by the
broker's in-flight window (the consumer acknowledges nothing meanwhile), QoS 0 ones — every device's heartbeat,
or anyone flooding a health topic — by nothing: 20,000 heartbeats of 1.5 kB sent during an outage held 15 MB,
growing for as long as it lasted. Past ``queue_max`` waiting, a QoS 0 message is dropped (counted, said once);
QoS 1 ones are still all kept."""

from __future__ import annotations

import json
import sqlite3
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import SqliteStore
from tests.consumer.device import publish_as_device
from tests.events.helpers import wait_until


def _event(i: int) -> bytes:
    return json.dumps({"event_id": f"e-{i}", "type": "vehicle_arrived", "ts": "2026-01-01T08:00:00.000+08:00",
                       "data": {}}).encode()


def _heartbeats(port: int, count: int) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flooder", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for i in range(count):
            doc = {"ts": f"2026-01-01T08:{i // 60:02d}:{i % 60:02d}+08:00", "extra": {"pad": "x" * 1500}}
            c.publish(f"edge/s1/d{i % 7}/health", json.dumps(doc), qos=0).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


@pytest.mark.broker
def test_qos0_messages_past_the_bound_are_dropped_while_the_database_is_down(broker, tmp_path, caplog):
    db = tmp_path / "c.sqlite"
    store = SqliteStore(db, health_every_s=0)  # every heartbeat a row: the queue's bound is the point here
    down, attempts, write = threading.Event(), [0], store.write
    down.set()

    def attempt(batch):  # noqa: ANN001, ANN202 - the store's own write, refused while the database is "down"
        attempts[0] += 1
        if down.is_set():
            raise sqlite3.OperationalError("unable to open database file")
        return write(batch)

    store.write = attempt  # type: ignore[method-assign]
    consumer = Consumer(broker.url(), store, group="g", client_id="c-flood")
    consumer.retry_s, consumer.queue_max = 0.01, 50
    consumer.start()
    assert consumer.wait_ready(10)
    try:
        publish_as_device(broker.port, [("edge/s1/d1/events", _event(0))])
        wait_until(lambda: attempts[0] >= 2, 10, "the writer holding the first event, failing")
        _heartbeats(broker.port, 200)
        publish_as_device(broker.port, [("edge/s1/d1/events", _event(i)) for i in range(1, 4)])
        wait_until(lambda: getattr(consumer.counters, "dropped", 0) + consumer._q.qsize() == 203, 20,
                   "every heartbeat and event after the first one arrived")
        assert consumer._q.qsize() == 53  # 50 heartbeats and the 3 events wait
        assert consumer.counters.dropped == 150
        down.clear()
        wait_until(lambda: consumer.counters.written == 54, 20, "what waited, written once the database is back")
    finally:
        consumer.stop()
    rows = sqlite3.connect(db)
    assert rows.execute("SELECT count(*) FROM events").fetchone()[0] == 4  # no QoS 1 message lost
    assert rows.execute("SELECT count(*) FROM health").fetchone()[0] == 50
    said = [r.getMessage() for r in caplog.records if "dropped until fewer wait" in r.getMessage()]
    assert len(said) == 1, said
