"""Events the agents publish while the broker has restarted and the consumer has not reconnected yet.

Found by probe chaos34 (a real ``edge-agent run`` SIGKILLed ~45 times, mosquitto stopped and killed at random, a
recorder and ``edge-agent consume`` beside it): the recorder, on a plain persistent subscription, got all 906
events; ``consume``, on its default ``$share`` group, stored 592. mosquitto 2.0.11 keeps a plain subscription of an
offline session over its restart, not a shared one, and the agent's outbox drained into the restarted broker
before the consumer's backoff brought it back: each such message reached nobody, acknowledged to the agent.
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


def _publish(port: int) -> None:
    """``EVENTS`` events at QoS 1, each acknowledged by the broker (the agent deletes its row at this PUBACK)."""
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agent-stand-in", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        for i in range(EVENTS):
            body = f'{{"event_id": "00000000-0000-0000-0000-{i:012d}", "type": "t", "ts": "2026-01-01T08:00:00Z"}}'
            info = pub.publish("edge/s1/d1/events", body, qos=1)
            info.wait_for_publish(5)
            assert info.is_published()
    finally:
        pub.loop_stop()
        pub.disconnect()


@pytest.mark.broker
def test_a_consumer_away_while_the_broker_restarts_gets_what_was_published_meanwhile(broker, tmp_path):
    db = tmp_path / "e.sqlite"
    first = Consumer(broker.url(), SqliteStore(db), client_id="c-restart").start()  # the CLI's defaults
    assert first.wait_ready()
    first.stop()  # away (a crash, a deploy): its session, with its subscriptions, stays at the broker
    broker.stop()  # a broker restart from its persistence file, as an upgrade or a reboot does
    broker.start()
    _publish(broker.port)  # the agents reconnect first (their backoff is shorter) and drain their outboxes
    again = Consumer(broker.url(), SqliteStore(db), client_id="c-restart").start()
    try:
        wait_until(lambda: again.counters.written >= EVENTS, 20, "the events published while it was away")
    finally:
        again.stop()
    assert sqlite3.connect(db).execute("SELECT count(DISTINCT event_id) FROM events").fetchone()[0] == EVENTS
