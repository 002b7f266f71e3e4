"""A damaged outbox's salvage tells the backend what it lost (a real mosquitto): the rows on a damaged page were
counted (``outbox_lost`` in the heartbeat) and logged, but no event said so — a backend that keeps the live events'
count (docs/mqtt.md) never learnt of them (probe chaos39)."""

from __future__ import annotations

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.outbox import Outbox
from edge_agent.events.schemas import first_error
from tests.damage import damage_pages
from tests.events.helpers import RecordingControl, Subscriber, make_config

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"


def test_the_events_a_damaged_page_took_are_announced_once_as_outbox_lost(broker, tmp_path):
    path = tmp_path / "mqtt-outbox.sqlite"
    with Outbox(path) as box:
        for i in range(200):
            box.put(f"{PREFIX}/events", (f'{{"event_id": "e{i:03d}", "pad": "' + "x" * 900 + '"}').encode())
    damage_pages(path, "outbox", 20)
    clock, bus = FakeClock(), EventBus()
    sub = Subscriber(broker.port, f"{PREFIX}/events").start()
    link = build_mqtt(make_config(broker.url(), tmp_path), bus, RecordingControl(), clock, lambda: HealthFigures())
    try:
        lost = link.outbox.lost()
        assert 0 < lost <= 6  # the damaged page's rows
        link.start()
        notice = sub.wait_for(f"{PREFIX}/events", lambda m: m.json().get("type") == "outbox_lost").json()
        assert notice["data"]["lost_total"] == lost and notice["data"]["reason"] == "damaged_file"
        assert first_error("event.json", notice) is None
    finally:
        link.stop()
        sub.stop()
    with Outbox(path, damage_notice=lambda n: ("t", b"again")) as box:  # said once: the next start owes nothing
        assert not [r for r in box.pending(0, 1000) if b'"outbox_lost"' in r.payload or r.payload == b"again"]
