"""Every payload the agent publishes matches its JSON Schema in edge_agent/events/schemas/."""

from __future__ import annotations

import json

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.schemas import DIR, PAYLOAD_SCHEMAS, SCHEMA_VERSION, first_error, validator
from edge_agent.events.types import BayState, Event, EventType
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until

PREFIX = "edge/s1/dev1"


def schema_for(topic: str) -> str | None:
    if topic.startswith("homeassistant/"):
        return PAYLOAD_SCHEMAS["discovery"]
    if topic.startswith("backend/") or topic == f"{PREFIX}/reply":
        return PAYLOAD_SCHEMAS["reply"]
    rest = topic.removeprefix(PREFIX + "/")
    if rest.startswith(("cmd/", "sim/")):
        return None  # the backend's own messages
    if rest.startswith("bays/") and rest.endswith("/state"):
        return PAYLOAD_SCHEMAS["state"]
    return PAYLOAD_SCHEMAS[{"events": "event", "status": "status", "health": "health",
                            "stats/daily": "stats_daily"}[rest]]


def test_all_schema_files_are_valid_2020_12():
    names = sorted(p.name for p in DIR.glob("*.json"))
    from edge_agent.events.topics import COMMANDS, SIM_COMMANDS

    assert {n for n in names if n.startswith("cmd-")} == {f"cmd-{c}.json" for c in COMMANDS}
    assert {n for n in names if n.startswith("sim-")} == {f"sim-{c}.json" for c in SIM_COMMANDS}
    assert {n for n in names if not n.startswith(("cmd-", "sim-"))} == {
        "bay-state.json", "command-envelope.json", "event.json", "ha-discovery.json", "health.json",
        "reply.json", "stats-daily.json", "status.json"}
    for name in names:
        validator(name)  # raises SchemaError when the schema itself is broken


@pytest.mark.broker
def test_every_published_payload_matches_its_schema(broker, tmp_path):
    clock = FakeClock()
    bus = EventBus()
    backend = Subscriber(broker.port, ["edge/#", "homeassistant/#", "backend/#"]).start()
    cfg = make_config(broker.url(), tmp_path / "data", home_assistant={"enabled": True},
                      outbox={"max_rows": 10})  # fmt: skip
    unseen = {"B1": "camera_unmatched", "B2": "bay_too_small"}  # the heartbeat's documented extra
    link = build_mqtt(cfg, bus, RecordingControl(), clock, lambda: HealthFigures(5.0, 40.0, True, {"bays_unseen": unseen}))
    # before start: 2 states + 14 events overflow the 10-row outbox (one overflow notice, the violation kept)
    bus.publish_state(BayState("B1", "violation", iso(clock.now()), "v1", "京A12345", "blue", False, "blue plate"))
    bus.publish_state(BayState("B2", "free", iso(clock.now())))
    bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="B1", visit_id="v1", evidence_id="e1",
                           data={"plate": "京A12345", "colour": "blue"}))  # fmt: skip
    for i in range(13):
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B2", data={"i": i}))
    link.start()
    try:
        backend.wait_for(f"{PREFIX}/health")
        for body in ({"ts": iso(clock.now()), "bay": "B1", "reason": "r", "operator": "o"}, {"ts": "old"}):
            backend.request(f"{PREFIX}/cmd/lock", body, "backend/replies", b"c")
        wait_until(lambda: len(backend.on("backend/replies")) == 2, what="two replies")
        from edge_agent.stats.daily import summary

        link.publish_retained(link.topics.stats_daily, summary(tmp_path / "none.db", ["B1"], clock.now().date(),
                                                               clock.now().tzinfo, 0, "dev1", iso(clock.now())))
        wait_until(lambda: link.outbox_depth() == 0, what="the outbox to drain")
        # a plate no read showed whole (bays.md): NEV by its class, and an unidentified violation's partial plate
        bus.publish(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="B2", visit_id="v2", evidence_id="e2",
                               data={"plate": "粤BD1234?", "colour": "green", "type_code": "52", "nev": True,
                                     "reason": "format+colour", "confidence": 0.3, "reads": 3, "partial": True}))
        bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="B1", visit_id="v3", evidence_id="e3",
                               data={"reason": "unidentified", "parked_s": 300.0, "plate": "京A1245?",
                                     "colour": "blue", "partial": True}))
        bus.publish(Event.make(EventType.CLOCK_STEPPED, clock, data={"step_s": 1.7e9, "clock_synced": True}))
        backend.wait_for(f"{PREFIX}/events", lambda m: m.json()["type"] == EventType.CLOCK_STEPPED)
    finally:
        link.stop()
    backend.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "offline")
    backend.stop()

    seen: set[str] = set()
    for m in backend.all():
        schema = schema_for(m.topic)
        if schema is None:
            continue
        problem = first_error(schema, json.loads(m.payload))
        assert problem is None, f"{m.topic}: {problem}"
        # MQTT 5: every payload says which contract version it follows (the LWT and retained ones too)
        assert ("schema-version", SCHEMA_VERSION) in getattr(m.props, "UserProperty", []), m.topic
        seen.add(schema)
    assert seen == set(PAYLOAD_SCHEMAS.values())
    events = [m.json() for m in backend.on(f"{PREFIX}/events")]
    overflow = [e for e in events if e["type"] == "outbox_overflow"]
    assert len(overflow) == 1 and overflow[0]["data"] == {"dropped_total": 6, "max_rows": 10, "policy": "drop_oldest"}
    assert events[0]["type"] == EventType.VIOLATION_STARTED  # protected: kept although oldest
    assert [e["data"]["i"] for e in events if e["type"] == EventType.VEHICLE_ARRIVED] == list(range(6, 13))
    assert [e["data"].get("partial") for e in events if e["visit_id"] in ("v2", "v3")] == [True, True]
    event_schema = schema_for(f"{PREFIX}/events")
    assert event_schema is not None
    assert events[-3]["type"] == EventType.VEHICLE_IDENTIFIED
    wrong = {**events[-3], "data": {**events[-3]["data"], "partial": False}}  # partial is said only when true
    assert first_error(event_schema, wrong) is not None


def test_the_lwt_document_matches_the_status_schema(tmp_path):
    link = build_mqtt(make_config("mqtt://127.0.0.1:1", tmp_path / "d"), EventBus(), RecordingControl(), FakeClock(),
                      lambda: HealthFigures())  # fmt: skip
    try:
        will = json.loads(link.conn.client._will_payload)  # what the broker publishes on our death
        assert will["state"] == "offline" and will["clean"] is False
        assert first_error("status.json", will) is None
    finally:
        link.outbox.close()
