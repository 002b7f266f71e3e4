"""Home Assistant MQTT discovery as HA reads it: topic levels HA accepts, value templates rendered on the
agent's real payloads, and no stale entities once bays leave the config (at a restart or a reload)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2
import pytest

from edge_agent.clock import FakeClock
from edge_agent.config import parse_config
from edge_agent.events.bus import EventBus
from edge_agent.events.discovery import discovery_messages
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import MqttLink, build_mqtt
from edge_agent.events.topics import Topics
from edge_agent.events.types import BayState
from tests.events.helpers import RecordingControl, Subscriber, config_dict, wait_until

# homeassistant/components/mqtt/discovery.py: a topic (after the discovery prefix) it does not match is logged as
# "Received message on illegal discovery topic" and dropped: the entity never appears.
HA_TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")
PAYLOAD_NONE = "None"  # what HA's MQTT entities read as "unknown"


def ha_binary_sensor(config: dict, payload: dict) -> bool | None:
    """What HA's MQTT binary_sensor makes of ``payload``: on, off, unknown (None); anything else is ignored."""
    out = jinja2.Environment().from_string(config["value_template"]).render(value_json=payload).strip()
    assert out in (config.get("payload_on", "ON"), config.get("payload_off", "OFF"), PAYLOAD_NONE), out
    return None if out == PAYLOAD_NONE else out == config.get("payload_on", "ON")


def test_every_discovery_topic_is_one_home_assistant_accepts_also_for_ids_with_a_dot():
    """Ids may hold ``.`` (``pole.7``, bay ``A.1``); HA's node and object ids may not: every entity of such a
    device was dropped. Distinct ids stay distinct entities (``A.1`` is not ``A_1``)."""
    topics = Topics("edge/s1/pole.7")
    messages = discovery_messages(topics, "s1", "pole.7", [("A.1", True), ("A_1", False), ("B2", False)])
    levels = [t.split("/", 1)[1] for t, _ in messages]
    assert all(HA_TOPIC_MATCHER.fullmatch(level) for level in levels), levels
    assert len(set(levels)) == len(levels) == 4 + 1 + 4 + 4 + 3
    assert len({c["unique_id"] for _, c in messages}) == len(messages)
    # ids HA already accepts keep their topics (no entity of an existing install moves)
    assert "homeassistant/binary_sensor/dev1/B2_occupied/config" in {
        t for t, _ in discovery_messages(Topics("edge/s1/dev1"), "s1", "dev1", [("B2", False)])}


@pytest.mark.parametrize(("state", "occupied", "violation"), [
    ("free", False, False), ("occupied", True, False), ("identified", True, False), ("violation", True, True),
    ("overstay", True, True),
    ("unknown", None, False),  # the camera is lost and no visit is open: not known to be free
])  # fmt: skip
def test_binary_sensors_read_the_real_bay_state(state, occupied, violation):
    configs = {t.rsplit("/", 2)[1]: c for t, c in discovery_messages(Topics("edge/s1/dev1"), "s1", "dev1", [("B1", False)])}
    payload = json.loads(json.dumps(BayState("B1", state, "2026-01-01T08:00:00.000+08:00",
                                             camera_ok=state != "unknown").to_dict()))  # fmt: skip
    assert ha_binary_sensor(configs["B1_occupied"], payload) is occupied
    assert ha_binary_sensor(configs["B1_violation"], payload) is violation


def test_sensors_that_read_numbers_are_numeric_sensors_for_home_assistant():
    """A sensor with neither unit nor state_class is text to HA: outbox depth and fps were charted as bars of
    distinct strings and kept no statistics. Every sensor whose template reads a number off the agent's real
    heartbeat says ``state_class``."""
    heartbeat = {"ts": "2026-01-01T08:00:00.000+08:00", "device": "dev1", "uptime_s": 60.0, "clock_synced": True,
                 "fps": 4.9, "inference_ms": 62.0, "camera_ok": True, "outbox_depth": 3, "outbox_dropped": 0,
                 "outbox_lost": 0, "disk_used_pct": 41.2, "disk_free_mb": 17890.3, "cpu_temp_c": 52.1,
                 "mqtt": {"broker": "mqtt://b:1883", "connects": 1}}  # fmt: skip
    numeric = []
    for topic, config in discovery_messages(Topics("edge/s1/dev1"), "s1", "dev1", [("B1", True)]):
        if config["state_topic"] != "edge/s1/dev1/health":
            continue
        out = jinja2.Environment().from_string(config["value_template"]).render(value_json=heartbeat)
        float(out)  # each health sensor reads a number
        numeric.append(topic)
        assert config.get("state_class") == "measurement", topic
    assert len(numeric) == 3


SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]


def _link(broker, tmp_path: Path, bays: list[str], site: str = "s1", enabled: bool = True) -> MqttLink:
    return build_mqtt(_cfg(broker, tmp_path, bays, site, enabled), EventBus(), RecordingControl(), FakeClock(),
                      lambda: HealthFigures())  # fmt: skip


def _cfg(broker, tmp_path: Path, bays: list[str], site: str = "s1", enabled: bool = True):
    raw = config_dict(broker.url(), tmp_path / "data", home_assistant={"enabled": enabled})
    raw["site"]["site_id"] = site
    raw["bays"] = [{"id": b, "polygon": [[x + 200 * i, y] for x, y in SQUARE]} for i, b in enumerate(bays)]
    return parse_config(raw, base_dir=tmp_path)


def _retained_configs(broker, count: int) -> dict[str, dict]:
    """The discovery configs the broker holds now (what HA gets at its next start)."""
    late = Subscriber(broker.port, "homeassistant/#").start()
    try:
        wait_until(lambda: len({m.topic for m in late.all() if m.payload}) >= count, what=f"{count} retained configs")
        return {m.topic: m.json() for m in late.all() if m.payload}
    finally:
        late.stop()


def _entities(configs: dict[str, dict]) -> set[str]:
    return {t.split("/")[3] for t in configs}


@pytest.mark.broker
def test_a_restart_without_some_bays_removes_their_entities_and_leaves_other_agents_alone(broker, tmp_path):
    first = _link(broker, tmp_path, ["B1", "B2", "B3"])
    first.start()
    wait_until(lambda: len(_retained_configs(broker, 3 * 4 + 3)) == 15, what="the first start's configs")
    first.stop()
    # another agent with the same device id at another site (its own client id) has an entity under the node
    other = Subscriber(broker.port, "unused/none").start()
    foreign = "homeassistant/sensor/dev1/Z9_state/config"
    other.c.publish(foreign, json.dumps({"name": "z", "unique_id": "s2_dev1_Z9_state", "state_topic": "x",
                                         "device": {"identifiers": ["edge-agent-s2-dev1"], "name": "n"}}),
                    qos=1, retain=True).wait_for_publish(5)  # fmt: skip
    other.stop()

    watch = Subscriber(broker.port, "homeassistant/#").start()
    second = _link(broker, tmp_path, ["B1"])  # B2 and B3 were taken out of the config file
    try:
        second.start()
        gone = {f"homeassistant/{c}/dev1/{b}_{s}/config" for b in ("B2", "B3")
                for c, s in (("binary_sensor", "occupied"), ("binary_sensor", "violation"), ("sensor", "state"),
                             ("sensor", "plate"))}  # fmt: skip
        wait_until(lambda: gone <= {m.topic for m in watch.all() if not m.payload}, what="the stale configs cleared")
        configs = _retained_configs(broker, 4 + 3 + 1)
        assert _entities(configs) == {"B1_occupied", "B1_violation", "B1_state", "B1_plate", "cpu_temp", "fps",
                                      "outbox_depth", "Z9_state"}  # fmt: skip
        assert not [m for m in watch.all() if m.topic == foreign and not m.payload]
    finally:
        second.stop()
        watch.stop()


@pytest.mark.broker
def test_turning_home_assistant_off_removes_the_entities_it_made(broker, tmp_path):
    first = _link(broker, tmp_path, ["B1"])
    first.start()
    wait_until(lambda: len(_retained_configs(broker, 4 + 3)) == 7, what="the configs")
    first.stop()
    watch = Subscriber(broker.port, "homeassistant/#").start()
    second = _link(broker, tmp_path, ["B1"], enabled=False)
    try:
        wait_until(lambda: len(watch.all()) == 7, what="the retained configs handed to a new subscriber")
        second.start()
        wait_until(lambda: len([m for m in watch.all() if not m.payload]) == 7, what="every config cleared")
    finally:
        second.stop()
        watch.stop()


@pytest.mark.broker
def test_a_reload_that_adds_and_removes_bays_updates_the_entities_at_once(broker, tmp_path):
    link = _link(broker, tmp_path, ["B1", "B2"])
    watch = Subscriber(broker.port, "homeassistant/#").start()
    try:
        link.start()
        wait_until(lambda: len({m.topic for m in watch.all()}) == 2 * 4 + 3, what="the start's configs")
        link.config_applied(_cfg(broker, tmp_path, ["B1", "B5"]), [])  # the installer moved bay B2 to B5
        wait_until(lambda: watch.on("homeassistant/sensor/dev1/B5_state/config"), what="the new bay's entities")
        wait_until(lambda: [m for m in watch.on("homeassistant/sensor/dev1/B2_state/config") if not m.payload],
                   what="the removed bay's entities cleared")  # fmt: skip
        assert _entities(_retained_configs(broker, 2 * 4 + 3)) == {
            f"{b}_{s}" for b in ("B1", "B5") for s in ("occupied", "violation", "state", "plate")
        } | {"cpu_temp", "fps", "outbox_depth"}
    finally:
        link.stop()
        watch.stop()


@pytest.mark.broker
def test_a_discovery_config_over_the_brokers_packet_limit_stops_no_event(tmp_path):
    """A broker announcing a Maximum Packet Size under one discovery config (≈ 600 bytes) raised in the connect
    handler: the outbox was never told the link is up, so no event went out until a restart."""
    from edge_agent.events.broker import LocalBroker
    from edge_agent.events.types import Event
    from tests.events.conftest import _need_mosquitto

    _need_mosquitto()
    broker = LocalBroker(tmp_path / "broker")
    broker.config = broker.config_text() + "max_packet_size 560\n"
    broker.start()
    sub = Subscriber(broker.port, ["edge/#", "homeassistant/#"]).start()
    bus, clock = EventBus(), FakeClock()
    link = build_mqtt(_cfg(broker, tmp_path, ["B1"]), bus, RecordingControl(), clock, lambda: HealthFigures())
    try:
        link.start()
        bus.publish(Event.make("vehicle_arrived", clock, bay_id="B1"))
        wait_until(lambda: sub.on("edge/s1/dev1/events"), what="the event")
        wait_until(lambda: sub.on("homeassistant/sensor/dev1/fps/config"), what="the configs that fit")
    finally:
        link.stop()
        sub.stop()
        broker.stop()


@pytest.mark.broker
def test_a_damaged_list_of_published_configs_clears_nothing_it_should_not(broker, tmp_path):
    """``ha-discovery.json`` cut short by a power cut, or naming topics that are no discovery configs (the
    agent's own status, a wildcard): the link starts as usual and clears only discovery config topics."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ha-discovery.json").write_text(json.dumps(
        ["edge/s1/dev1/status", "homeassistant/sensor/dev1/#", "homeassistant/sensor/dev1/Z_state/config"]))
    watch = Subscriber(broker.port, ["homeassistant/#", "edge/s1/dev1/status"]).start()
    link = _link(broker, tmp_path, ["B1"])
    try:
        link.start()
        wait_until(lambda: [m for m in watch.all() if m.topic.endswith("Z_state/config") and not m.payload],
                   what="the listed config cleared")  # fmt: skip
        assert not [m for m in watch.on("edge/s1/dev1/status") if not m.payload]
    finally:
        link.stop()
        watch.stop()
    (tmp_path / "data" / "ha-discovery.json").write_text('["homeassistant/sensor/dev1/B1_st')  # cut short
    again = _link(broker, tmp_path, ["B1"])
    try:
        again.start()
        wait_until(lambda: again.status().connected, what="the link to connect")
        assert _entities(_retained_configs(broker, 4 + 3)) >= {"B1_state", "fps"}
    finally:
        again.stop()
