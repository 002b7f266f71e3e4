"""The MQTT link when its disk is full (a real tmpfs, a real mosquitto): an event the outbox
cannot write is announced to the backend at once (``outbox_lost``, straight to the broker),
counted in the heartbeat, and noted durably once the disk has room again."""

from __future__ import annotations

import logging

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import Event, EventType
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"


def test_lost_events_are_announced_live_counted_and_noted_later(broker, tiny_disk):  # noqa: F811
    disk = tiny_disk(3)
    clock, bus = FakeClock(), EventBus()
    sub = Subscriber(broker.port, "edge/#").start()
    link = build_mqtt(make_config(broker.url(), disk, outbox={"reserve_mb": 0}), bus, RecordingControl(), clock,
                      lambda: HealthFigures())
    try:
        link.start()
        sub.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online")
        filler = fill(disk)
        lost = [Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", data={"n": i}) for i in range(3)]
        for e in lost:
            bus.publish(e)
        assert link.outbox.lost() == 3
        live = sub.wait_for(f"{PREFIX}/events", lambda m: m.json()["data"].get("lost_total") == 3).json()
        assert live["type"] == "outbox_lost" and live["data"]["live"] is True and live["data"]["reason"] == "disk_full"
        assert link.stats()["outbox_lost"] == 3
        link.publish_health()
        assert sub.wait_for(f"{PREFIX}/health", lambda m: m.json()["outbox_lost"] == 3)
        filler.unlink()  # room again: the next event goes in with a durable notice before it
        after = Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A")
        bus.publish(after)
        wait_until(lambda: any(m.json()["event_id"] == after.event_id for m in sub.on(f"{PREFIX}/events")),
                   what="the event after the loss")
        durable = [m.json() for m in sub.on(f"{PREFIX}/events")
                   if m.json()["type"] == "outbox_lost" and "live" not in m.json()["data"]]
        assert [d["data"]["lost_total"] for d in durable] == [3]
        sent = {m.json()["event_id"] for m in sub.on(f"{PREFIX}/events")}
        assert not sent & {e.event_id for e in lost}  # really lost (and said so), not quietly delivered
    finally:
        link.stop()
        sub.stop()


def test_events_kept_by_a_full_disk_at_start_are_delivered_once_there_is_room(broker, tiny_disk):  # noqa: F811
    """The probe's case: a nearly full disk at start used to move the outbox aside as corrupt."""
    disk = tiny_disk(1)
    cfg = make_config(broker.url(), disk, outbox={"reserve_mb": 0})
    clock, bus = FakeClock(), EventBus()
    waiting = [Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", data={"n": i}) for i in range(8)]
    first = build_mqtt(cfg, bus, RecordingControl(), clock, lambda: HealthFigures())  # never started: broker "down"
    for e in waiting:
        bus.publish(e)
    first.stop()
    filler = fill(disk, 8 * 1024)
    sub = Subscriber(broker.port, "edge/#").start()
    link = build_mqtt(cfg, EventBus(), RecordingControl(), clock, lambda: HealthFigures())
    try:
        assert link.outbox.unavailable is not None and not list(disk.glob("*.corrupt-*"))
        link.start()
        sub.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online")
        link.publish_health()
        health = sub.wait_for(f"{PREFIX}/health", lambda m: "extra" in m.json()).json()
        assert health["extra"]["outbox_unavailable"].startswith("disk full")
        filler.unlink()
        clock.advance(5)  # the link tries the file again every 5 s (its ticker thread runs tick())
        want = {e.event_id for e in waiting}
        wait_until(lambda: want <= {m.json()["event_id"] for m in sub.on(f"{PREFIX}/events")},
                   what="the 8 events kept on disk")
        wait_until(lambda: link.outbox.depth() == 0, what="the outbox emptied by PUBACKs")
    finally:
        link.stop()
        sub.stop()


def test_a_bay_state_the_full_disk_kept_out_reaches_the_broker_while_connected(broker, tiny_disk, caplog):  # noqa: F811
    """A retained bay state the outbox cannot store is no counted loss (probe chaos42): "said again at the next
    connect". A link that stays connected has no next connect for hours, and the broker kept the bay's previous
    state (``free`` under a parked car) with nothing told (probe review102). It goes out at once instead."""
    disk = tiny_disk(3)
    clock, bus = FakeClock(), EventBus()
    sub = Subscriber(broker.port, "edge/#").start()
    link = build_mqtt(make_config(broker.url(), disk, outbox={"reserve_mb": 0}), bus, RecordingControl(), clock,
                      lambda: HealthFigures())
    topic = link.topics.state("A")
    try:
        link.start()
        link.publish_retained(topic, {"bay_id": "A", "state": "free"})
        sub.wait_for(topic, lambda m: m.json()["state"] == "free")
        fill(disk)
        with caplog.at_level(logging.WARNING, logger="edge_agent.events.outbox"):
            link.publish_retained(topic, {"bay_id": "A", "state": "occupied"})
        assert f"retained message to {topic} not stored" in caplog.text, "the disk took the state: nothing tested"
        assert link.outbox.lost() == 0
        sub.wait_for(topic, lambda m: m.json()["state"] == "occupied")
        late = Subscriber(broker.port, topic).start()  # a backend subscribing now gets the retained state
        try:
            assert late.wait_for(topic).json()["state"] == "occupied"
        finally:
            late.stop()
    finally:
        link.stop()
        sub.stop()


def test_a_bay_state_the_full_disk_kept_out_goes_out_though_an_older_one_is_still_in_flight(
        broker, tiny_disk, monkeypatch):  # noqa: F811
    """The bay's previous state was sent and seen, but its PUBACK not yet handled, so its row was still in the outbox
    (then kept, delivered, by the full disk's failed deletion): the refused newer state was left to "the row still
    waiting", which had gone out already and is never sent again. The broker kept ``free`` under a parked car (a full
    CI under load, 0.33.0's first). Said from memory whatever row of its topic is in the outbox: one still to go is
    sent with the newest in its place (``_publish_row``)."""
    disk = tiny_disk(3)
    clock, bus = FakeClock(), EventBus()
    sub = Subscriber(broker.port, "edge/#").start()
    link = build_mqtt(make_config(broker.url(), disk, outbox={"reserve_mb": 0}), bus, RecordingControl(), clock,
                      lambda: HealthFigures())
    topic = link.topics.state("A")
    try:
        link.start()
        link.publish_retained(topic, {"bay_id": "A", "state": "free"})
        sub.wait_for(topic, lambda m: m.json()["state"] == "free")
        fill(disk)
        monkeypatch.setattr(link.outbox, "pending_keys", lambda: {topic})  # the sent row, its PUBACK not yet handled
        link.publish_retained(topic, {"bay_id": "A", "state": "occupied"})
        assert topic in link._unstored, "the disk took the state: nothing tested"
        sub.wait_for(topic, lambda m: m.json()["state"] == "occupied")
    finally:
        link.stop()
        sub.stop()


def test_a_bay_state_the_full_disk_kept_out_is_not_replaced_by_an_older_one_waiting(broker, tiny_disk):  # noqa: F811
    """The older state of that bay still waits in the outbox (broker down): the connect leaves a topic with a row
    waiting to the pump, which sent the older row — the broker kept ``free`` for a bay whose newest state,
    ``occupied``, the disk could not take (probe review102). The newest handed over goes out."""
    disk = tiny_disk(3)
    clock, bus = FakeClock(), EventBus()
    link = build_mqtt(make_config(broker.url(), disk, outbox={"reserve_mb": 0}), bus, RecordingControl(), clock,
                      lambda: HealthFigures())
    topic = link.topics.state("A")
    sub = Subscriber(broker.port, topic).start()
    try:
        link.publish_retained(topic, {"bay_id": "A", "state": "free"})  # not started: the broker is "down"
        fill(disk)
        link.publish_retained(topic, {"bay_id": "A", "state": "occupied"})
        (row,) = [r for r in link.outbox.pending(limit=100) if r.topic == topic]
        assert b"free" in row.payload, "the disk took the newer state: nothing tested"
        link.start()
        assert sub.wait_for(topic).json()["state"] == "occupied"
        wait_until(lambda: link.pump.in_flight == 0, what="the row acknowledged")
        assert [m.json()["state"] for m in sub.on(topic)] == ["occupied"]
    finally:
        link.stop()
        sub.stop()
