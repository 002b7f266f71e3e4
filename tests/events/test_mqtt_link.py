"""The MQTT link against a real mosquitto: status, events, retained states, heartbeat, stop."""

from __future__ import annotations

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import BayState, Event, EventType
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"


@pytest.fixture
def link_parts(broker, tmp_path):
    clock = FakeClock()
    bus = EventBus()
    control = RecordingControl()
    figures = HealthFigures(fps=4.8, inference_ms=61.5, camera_ok=True, extra={"frames": 12})
    sub = Subscriber(broker.port, "edge/#").start()
    made = []

    def make(**mqtt):
        link = build_mqtt(make_config(broker.url(), tmp_path / "data", **mqtt), bus, control, clock, lambda: figures)
        made.append(link)
        return link

    yield make, bus, clock, sub, control
    for link in made:
        if link.status().state != "stopped":
            link.stop()
    sub.stop()


def test_events_states_and_status_reach_the_broker(link_parts):
    make, bus, clock, sub, _ = link_parts
    link = make()
    link.start()
    online = sub.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online")
    assert online.json()["config_hash"] and online.json()["version"]

    events = [Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id=f"B{i % 4 + 1}", data={"n": i}) for i in range(20)]
    for e in events:
        bus.publish(e)
    bus.publish_state(BayState("B2", "occupied", "2026-01-01T08:00:00.000+08:00", plate="京AD12345", lock=None))
    wait_until(lambda: len(sub.on(f"{PREFIX}/events")) == 20, what="20 events")
    assert [m.json()["event_id"] for m in sub.on(f"{PREFIX}/events")] == [e.event_id for e in events]
    wait_until(lambda: link.outbox_depth() == 0, what="the outbox to drain")
    stats = link.stats()
    assert (stats["connected"], stats["published"], stats["rejected"], stats["outbox_dropped"]) == (True, 21, 0, 0)

    # a late subscriber gets the retained status and bay state
    late = Subscriber(sub.port, "edge/#").start()
    try:
        state = late.wait_for(f"{PREFIX}/bays/B2/state")
        assert state.retain and state.json()["plate"] == "京AD12345"
        assert late.wait_for(f"{PREFIX}/status").json()["state"] == "online"
    finally:
        late.stop()

    link.stop()
    link.stop()  # idempotent
    offline = sub.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "offline")
    assert offline.json()["clean"] is True


def test_heartbeat_follows_the_injected_clock(link_parts):
    make, _bus, clock, sub, _ = link_parts
    link = make(heartbeat_s=60)
    link.start()
    first = sub.wait_for(f"{PREFIX}/health").json()  # one right after connecting
    assert first["fps"] == 4.8 and first["camera_ok"] is True and first["outbox_depth"] == 0
    assert first["extra"] == {"frames": 12}
    assert first["clock_synced"] is None  # a fake clock: nobody can tell
    wait_until(lambda: link.heartbeats == 1, what="the first heartbeat count")
    clock.advance(59)
    link.tick()
    assert link.heartbeats == 1  # not due yet
    clock.set_synced(False)  # what the kernel says of a Pi booted without RTC, before NTP
    clock.advance(1)
    link.tick()  # (or the ticker thread, whichever comes first)
    wait_until(lambda: link.heartbeats == 2, what="the second heartbeat count")
    wait_until(lambda: len(sub.on(f"{PREFIX}/health")) == 2, what="the second heartbeat")
    second = sub.on(f"{PREFIX}/health")[1].json()
    assert second["uptime_s"] == 60.0 and second["clock_synced"] is False


def test_failover_to_the_next_broker(link_parts, broker):
    make, bus, clock, sub, _ = link_parts
    from edge_agent.events.broker import free_port

    dead = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    link = make(brokers=[dead, broker.url()])
    link.start()
    wait_until(lambda: link.status().connected, 20, "failover to the live broker")
    assert link.status().broker == broker.url()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B1"))
    sub.wait_for(f"{PREFIX}/events")


def test_home_assistant_discovery_points_at_our_topics(link_parts, broker):
    make, _bus, _clock, _sub, _ = link_parts
    ha = Subscriber(broker.port, "homeassistant/#").start()
    try:
        link = make(home_assistant={"enabled": True})
        link.start()
        occupied = ha.wait_for("homeassistant/binary_sensor/dev1/B3_occupied/config")
        cfg = occupied.json()
        assert cfg["state_topic"] == f"{PREFIX}/bays/B3/state" and cfg["device_class"] == "occupancy"
        assert cfg["availability"][0]["topic"] == f"{PREFIX}/status"
        wait_until(lambda: len({m.topic for m in ha.all()}) == 4 * 4 + 3, what="16 bay + 3 health entities")
    finally:
        ha.stop()
    late = Subscriber(broker.port, "homeassistant/#").start()
    try:
        assert late.wait_for("homeassistant/sensor/dev1/cpu_temp/config").retain
    finally:
        late.stop()


def test_home_assistant_shows_every_lock_however_it_is_paired_with_its_bay(broker, tmp_path):
    """A lock named by ``locks[].bay`` (as the demo's scenario.yaml does) is as much a bay's lock as
    one named by ``bays[].lock_id``: both bays get their lock entity."""
    from edge_agent.config import parse_config
    from tests.events.helpers import config_dict

    raw = config_dict(broker.url(), tmp_path / "data", home_assistant={"enabled": True})
    for i, bay in enumerate(raw["bays"]):  # locked bays need their own outline
        bay["polygon"] = [[x + 200 * i, y] for x, y in bay["polygon"]]
    raw["bays"][1]["lock_id"] = "lock-2"
    raw["locks"] = [{"id": "lock-1", "bay": "B1", "driver": "simulator"}, {"id": "lock-2", "driver": "simulator"}]
    ha = Subscriber(broker.port, "homeassistant/#").start()
    link = build_mqtt(parse_config(raw, base_dir=tmp_path), EventBus(), RecordingControl(), FakeClock(),
                      lambda: HealthFigures())  # fmt: skip
    try:
        link.start()
        wait_until(lambda: len({m.topic for m in ha.all()}) == 4 * 4 + 2 + 3, what="16 bay + 2 lock + 3 health entities")
        locks = sorted(m.topic for m in ha.all() if m.topic.endswith("_lock/config"))
        assert locks == ["homeassistant/sensor/dev1/B1_lock/config", "homeassistant/sensor/dev1/B2_lock/config"]
    finally:
        link.stop()
        ha.stop()


def test_two_brokers_down_for_different_reasons_are_not_a_warning_per_attempt(link_parts, caplog):
    """A failover list whose brokers fail differently (one refuses the port, one closes the connection at once):
    the "last failure" was one text for all brokers, so each attempt differed from the one before and was a warning."""
    import logging
    import socket
    import threading

    from edge_agent.events.broker import free_port

    make, *_ = link_parts
    closer = socket.create_server(("127.0.0.1", 0))  # accepts, then hangs up: closed before a CONNACK
    stop = threading.Event()

    def hang_up() -> None:
        closer.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = closer.accept()
                conn.close()
            except TimeoutError:
                pass
            except OSError:  # closed: the test is over
                return

    threading.Thread(target=hang_up, daemon=True).start()
    caplog.set_level(logging.DEBUG, logger="edge_agent.events.connection")
    refused = f"mqtt://127.0.0.1:{free_port()}"
    hangs_up = f"mqtt://127.0.0.1:{closer.getsockname()[1]}"
    link = make(brokers=[refused, hangs_up], reconnect_min_s=1, reconnect_max_s=1)
    try:
        link.start()
        wait_until(lambda: link.status().failures >= 9, 60, "nine failed attempts")
    finally:
        link.stop()
        stop.set()
        closer.close()
    said = [r.getMessage() for r in caplog.records
            if r.name == "edge_agent.events.connection" and r.levelno >= logging.WARNING and "attempt" in r.getMessage()]
    assert len(said) == 2, said  # each broker's cause once (the tenth attempt would be the reminder)
    assert sum(refused in s and "refused" in s for s in said) == 1, said
    assert sum(hangs_up in s and "closed before the broker answered" in s for s in said) == 1, said
