"""Events the agents publish while the broker has restarted and the consumer has not reconnected yet.

Found by probe chaos34 (a real ``edge-agent run`` SIGKILLed ~45 times, mosquitto stopped and killed at random, a
recorder and ``edge-agent consume`` beside it): the recorder, on a plain persistent subscription, got all 906
events; ``consume``, on its default ``$share`` group, stored 592. mosquitto 2.0.11 keeps a plain subscription of an
offline session over its restart, not a shared one, and the agent's outbox drained into the restarted broker
before the consumer's backoff brought it back: each such message reached nobody, acknowledged to the agent.
"""

from __future__ import annotations

import sqlite3

import pytest

from edge_agent.consumer.service import Consumer
from edge_agent.consumer.store import SqliteStore
from tests.consumer.test_subscription_change import EVENTS, _publish
from tests.events.helpers import wait_until


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
