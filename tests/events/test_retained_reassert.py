"""A broker restarted without persistence (mosquitto's default) forgets every retained message: the agent says its
retained documents again at each connect, as it does its status."""

from __future__ import annotations

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.broker import LocalBroker
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import BayState, Event
from tests.events.conftest import _need_mosquitto
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"


def _retained(port: int) -> dict[str, bytes]:
    """What a backend subscribing now is handed (retained messages only)."""
    sub = Subscriber(port, f"{PREFIX}/#").start()
    try:
        wait_until(lambda: sub.on(f"{PREFIX}/status"), what="the retained status")
        # the broker queues every retained message at the subscribe, before anything sent later: once a message
        # this subscriber sends itself is back, all are in (waiting for the status alone lost one on a busy box)
        marker = f"{PREFIX}/test/marker"
        sub.c.publish(marker, b"end of the retained", qos=1)
        wait_until(lambda: sub.on(marker), what="the marker after the retained messages")
        return {m.topic: m.payload for m in sub.all() if m.retain}
    finally:
        sub.stop()


def test_bay_states_and_daily_stats_survive_a_broker_restart_without_persistence(tmp_path):
    _need_mosquitto()
    broker = LocalBroker(tmp_path / "broker")
    broker.config = broker.config_text().replace("persistence true", "persistence false")
    broker.start()
    bus = EventBus()
    link = build_mqtt(make_config(broker.url(), tmp_path / "data", reconnect_min_s=1, reconnect_max_s=1),
                      bus, RecordingControl(), FakeClock(), no_health)  # fmt: skip
    link.start()
    try:
        wait_until(lambda: link.status().connected, what="the first connect")
        bus.publish_state(BayState("B1", "occupied", "2026-01-01T08:00:00.000+08:00", visit_id="v-1"))
        bus.publish_state(BayState("B2", "free", "2026-01-01T08:00:00.000+08:00"))
        link.publish_retained(f"{PREFIX}/stats/daily", {"date": "2025-12-31", "bays": {}})
        wait_until(lambda: link.outbox.depth() == 0, what="delivery")
        before = _retained(broker.port)
        assert {f"{PREFIX}/bays/B1/state", f"{PREFIX}/bays/B2/state", f"{PREFIX}/stats/daily"} <= set(before)

        broker.stop()
        wait_until(lambda: not link.status().connected, what="the link to notice")
        # B2 changes while the broker is away: the newer state waits in the outbox and must be the one kept
        bus.publish_state(BayState("B2", "occupied", "2026-01-01T08:05:00.000+08:00", visit_id="v-2"))
        broker.start()
        wait_until(lambda: link.status().connects == 2, 20, "the reconnect")
        # an event after the reconnect, acked: the broker has handled everything the agent sent before it
        bus.publish(Event(type="vehicle_arrived", ts="2026-01-01T08:06:00.000+08:00", bay_id="B3"))
        wait_until(lambda: link.outbox.depth() == 0, what="delivery after the reconnect")
        after = _retained(broker.port)
    finally:
        link.stop()
        broker.stop()
    # before: only the status came back; each bay had no state for a backend until it next changed
    assert after[f"{PREFIX}/bays/B1/state"] == before[f"{PREFIX}/bays/B1/state"]
    assert after[f"{PREFIX}/stats/daily"] == before[f"{PREFIX}/stats/daily"]
    assert b'"visit_id":"v-2"' in after[f"{PREFIX}/bays/B2/state"]
