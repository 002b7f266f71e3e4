"""A broker that refuses or cannot take a message: the row waits on disk and nothing behind it is blocked.

The probe found both ways to lose or block events: an ACL that denied the events topic got every event
deleted from the outbox on its failed PUBACK (health said depth 0, nothing lost), and an event over the
broker's ``max_packet_size`` had the connection closed, re-sent first after each reconnect, for ever.
"""

from __future__ import annotations

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.broker import LocalBroker
from edge_agent.events.bus import EventBus
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import Event, EventType
from tests.events.conftest import _need_mosquitto
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"
EVENTS = f"{PREFIX}/events"
DENY_EVENTS = f"pattern read edge/#\npattern readwrite {PREFIX}/status\npattern readwrite {PREFIX}/health\n"


def _ids(sub: Subscriber) -> set[str]:
    return {m.json()["event_id"] for m in sub.on(EVENTS)}


@pytest.fixture
def parts(tmp_path):
    _need_mosquitto()
    clock, bus, made = FakeClock(), EventBus(), []

    def link(broker: LocalBroker):  # noqa: ANN202
        made.append(build_mqtt(make_config(broker.url(), tmp_path / "data", reconnect_min_s=1), bus,
                               RecordingControl(), clock, no_health))  # fmt: skip
        made[-1].start()
        wait_until(lambda: made[-1].status().connected, what="the link to connect")
        return made[-1]

    def publish(n: int, pad: int = 0) -> list[str]:
        events = [Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B1", data={"pad": "x" * pad}) for _ in range(n)]
        for e in events:
            bus.publish(e)
        return [e.event_id for e in events]

    yield link, publish
    for one in made:
        one.stop(flush_s=0.5)


def test_acl_refused_events_wait_on_disk_and_go_out_once_the_acl_allows_them(parts, tmp_path):
    link_of, publish = parts
    acl = tmp_path / "acl"
    acl.write_text(DENY_EVENTS)
    broker = LocalBroker(tmp_path / "broker", acl_file=acl).start()
    backend = Subscriber(broker.port, [EVENTS, f"{PREFIX}/health"], client_id="backend", persistent=True).start()
    try:
        link = link_of(broker)
        refused = publish(5)
        wait_until(lambda: link.stats()["rejected"] == 5, what="5 failed PUBACKs")
        assert link.outbox_depth() == 5  # kept, not deleted on the refusal
        before = len(backend.on(f"{PREFIX}/health"))  # a heartbeat sent while the refusals came in is not this one
        link.publish_health()
        health = wait_until(lambda: next((m for m in backend.on(f"{PREFIX}/health")[before:] if "extra" in m.json()),
                                         None), what="the heartbeat after the refusals").json()
        assert (health["outbox_depth"], health["extra"]["outbox_refused"]) == (5, 5)
        assert not backend.on(EVENTS)

        broker.stop()  # the operator fixes the ACL and restarts the broker
        acl.write_text(DENY_EVENTS + f"pattern write {EVENTS}\n")
        broker.start()
        wait_until(lambda: _ids(backend) >= set(refused), 20, "the held events after the ACL fix")
        wait_until(lambda: link.outbox_depth() == 0 and link.stats()["held"] == 0, what="the outbox to drain")
    finally:
        backend.stop()
        broker.stop()



def _limited_broker(tmp_path, setting: str) -> LocalBroker:  # noqa: ANN001
    """A real mosquitto with one more line of config (a size limit), started."""
    broker = LocalBroker(tmp_path / "broker")
    broker.config = broker.config_text() + setting + "\n"
    return broker.start()
def test_event_over_the_brokers_max_packet_size_is_held_and_blocks_nothing(parts, tmp_path):
    link_of, publish = parts
    broker = _limited_broker(tmp_path, "max_packet_size 1000")
    backend = Subscriber(broker.port, EVENTS, client_id="backend", persistent=True).start()
    try:
        link = link_of(broker)
        before, big, after = publish(2), publish(1, pad=2000), publish(2)
        wait_until(lambda: _ids(backend) >= set(before + after), 15, "the events around the big one")
        wait_until(lambda: link.stats()["held"] == 1 and link.outbox_depth() == 1, what="only the big event left")
        assert big[0] not in _ids(backend)
        assert link.status().connects == 1  # no disconnect / reconnect loop

        broker.stop()  # the limit raised: the held event goes out at the next connection
        broker.config = broker.config_text()
        broker.start()
        wait_until(lambda: big[0] in _ids(backend), 20, "the big event after the limit was raised")
        wait_until(lambda: link.outbox_depth() == 0, what="the outbox to drain")
    finally:
        backend.stop()
        broker.stop()


def test_event_over_mosquittos_message_size_limit_is_held_and_nothing_is_sent_twice(parts, tmp_path, caplog):
    """mosquitto's older ``message_size_limit`` (no limit announced in its CONNACK) answers a bigger message with
    PUBACK 0x95, a code MQTT 5 has no PUBACK for: paho called the packet malformed and closed the connection, then
    sent the big event first again at every reconnect. The outbox never drained, the events sent with it were
    delivered again at each reconnect (never acked), and the log blamed a second device on this client id.
    Now it is that message's refusal: held on disk, the rest flows once, the connection stays."""
    import logging

    caplog.set_level(logging.INFO)
    link_of, publish = parts
    broker = _limited_broker(tmp_path, "message_size_limit 1000")
    backend = Subscriber(broker.port, EVENTS, client_id="backend", persistent=True).start()
    try:
        link = link_of(broker)
        big, after = publish(1, pad=2000), publish(3)
        wait_until(lambda: _ids(backend) >= set(after), 15, "the events behind the big one")
        wait_until(lambda: link.stats()["held"] == 1 and link.outbox_depth() == 1, what="only the big event left")
        more = publish(2)  # and the connection still carries what comes next
        wait_until(lambda: _ids(backend) >= set(more), 15, "later events")
        wait_until(lambda: link.outbox_depth() == 1, what="those acked")
        assert link.status().connects == 1  # no disconnect / reconnect loop
        ids = [m.json()["event_id"] for m in backend.on(EVENTS)]
        assert big[0] not in ids and len(ids) == len(set(ids)) == 5  # each once
    finally:
        backend.stop()
        broker.stop()
    said = [r for r in caplog.records if "refused message" in r.getMessage()]
    assert len(said) == 1 and "Packet too large" in said[0].getMessage() and "message_size_limit" in said[0].getMessage()
    assert "client id" not in caplog.text


def test_heartbeats_over_the_brokers_max_packet_size_are_one_error_not_one_each(parts, tmp_path, caplog):
    """Every heartbeat (every ``heartbeat_s``) the broker's limit refused was an error line of its own, for as long
    as the limit stayed: the first is said, then every 100th, with the count."""
    import logging

    link_of, _publish = parts
    broker = _limited_broker(tmp_path, "max_packet_size 250")
    try:
        link = link_of(broker)
        with caplog.at_level(logging.ERROR, logger="edge_agent.events.mqtt_link"):
            for _ in range(150):
                link.publish_health()
        assert link.heartbeats == 0 and link.heartbeats_too_large == 150
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("heartbeat not sent")]
        assert len(said) == 2 and "(100 heartbeat(s) not sent so far" in said[1], said
    finally:
        broker.stop()


@pytest.mark.parametrize("setting, named", [("retain_available false", "retain_available"), ("max_qos 0", "max_qos")])
def test_a_broker_refusing_the_last_will_under_mqtt_311_is_named_and_events_wait(tmp_path, setting, named):
    """MQTT 3.1.1 has no CONNACK code for a refused will: mosquitto closes the connection, and the line said only
    "plain mqtt:// to a TLS port? (use mqtts://)" — the operator changed the URL, not the broker. (MQTT 5 names it.)"""
    _need_mosquitto()
    clock, bus = FakeClock(), EventBus()
    broker = _limited_broker(tmp_path, setting)
    link = build_mqtt(make_config(broker.url(), tmp_path / "data", reconnect_min_s=1, protocol="3.1.1"), bus,
                      RecordingControl(), clock, no_health)
    link.start()
    try:
        wait_until(lambda: link.status().last_error is not None, what="the first failed attempt")
        assert link.status().state == "closed_early" and named in (link.status().last_error or "")
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B1"))
        assert link.outbox_depth() == 1  # waits on disk, not lost
    finally:
        link.stop(flush_s=0)
        broker.stop()


def test_under_mqtt_311_an_acl_denied_event_is_acknowledged_and_dropped_by_mosquitto(tmp_path):
    """What the docs say of 3.1.1, kept true: mosquitto sends PUBACK for a denied publish and drops it, so the outbox
    deletes the row and nothing tells (the reason to prefer MQTT 5, where the row is held: above)."""
    _need_mosquitto()
    acl = tmp_path / "acl"
    acl.write_text(DENY_EVENTS)
    broker = LocalBroker(tmp_path / "broker", acl_file=acl).start()
    backend = Subscriber(broker.port, EVENTS, client_id="backend", persistent=True).start()
    try:
        clock, bus = FakeClock(), EventBus()
        v311 = build_mqtt(make_config(broker.url(), tmp_path / "data", protocol="3.1.1"), bus, RecordingControl(),
                          clock, no_health)
        v311.start()
        wait_until(lambda: v311.status().connected, what="the 3.1.1 link")
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B1"))
        wait_until(lambda: v311.outbox_depth() == 0, what="the row acknowledged")
        assert v311.stats()["rejected"] == 0 and not backend.on(EVENTS)
        v311.stop(flush_s=0)
    finally:
        backend.stop()
        broker.stop()
