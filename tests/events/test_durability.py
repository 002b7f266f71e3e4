"""Availability and durable delivery with a real agent process that gets SIGKILLed."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict

import pytest

from tests.events.helpers import BAYS, ChildAgent, Subscriber, wait_until, write_config

pytestmark = pytest.mark.broker

STATUS = "edge/s1/dev1/status"
EVENTS = "edge/s1/dev1/events"


def test_sigkill_gives_retained_offline_within_2s_and_restart_online(broker, tmp_path):
    cfg = write_config(tmp_path / "agent.yaml", broker.url(), tmp_path / "data")
    sub = Subscriber(broker.port, STATUS).start()
    agent = ChildAgent(cfg)
    try:
        agent.wait_line("started")
        first = sub.wait_for(STATUS, lambda m: m.json()["state"] == "online", timeout=15).json()

        killed_at = time.monotonic()
        agent.kill()
        offline = sub.wait_for(STATUS, lambda m: m.json()["state"] == "offline", timeout=5)
        latency = time.monotonic() - killed_at
        print(f"offline {latency * 1000:.0f} ms after SIGKILL")
        assert latency < 2.0, f"LWT took {latency:.2f} s"
        assert offline.json() == {"state": "offline", "site": "s1", "device": "dev1",
                                  "started": first["started"], "clean": False}  # fmt: skip

        # retained: a subscriber arriving now still learns the device is offline
        late = Subscriber(broker.port, STATUS).start()
        assert late.wait_for(STATUS).json()["state"] == "offline"
        late.stop()

        agent = ChildAgent(cfg)
        agent.wait_line("started")
        again = sub.wait_for(STATUS, lambda m: m.json()["state"] == "online" and m.json()["started"] != first["started"])
        assert again.json()["config_hash"] == first["config_hash"]
    finally:
        agent.kill()
        sub.stop()


def _outbox_event_ids(path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT payload FROM outbox WHERE topic = ? ORDER BY seq", (EVENTS,)).fetchall()
    finally:
        db.close()
    return [json.loads(r[0])["event_id"] for r in rows]


def test_outage_kill_restart_loses_nothing_and_keeps_bay_order(broker, tmp_path):
    n = 1200
    cfg = write_config(tmp_path / "agent.yaml", broker.url(), tmp_path / "data")
    outbox = tmp_path / "data" / "mqtt-outbox.sqlite"
    backend = Subscriber(broker.port, EVENTS, client_id="backend-1", persistent=True).start()
    broker.stop()  # outage begins; the backend's session survives in mosquitto's persistence file

    agent = ChildAgent(cfg, events=n)
    agent.wait_line(f"produced {n}", timeout=120)
    produced = _outbox_event_ids(outbox)
    assert len(produced) == n  # on disk before any broker saw them
    agent.kill()

    agent = ChildAgent(cfg)  # restarted while the broker is still down …
    try:
        agent.wait_line("started")
        broker.start()  # … then the broker comes back
        wait_until(lambda: len({m.json()["event_id"] for m in backend.on(EVENTS)}) >= n, 120, f"{n} events")
        wait_until(lambda: not _outbox_event_ids(outbox), 30, "the outbox to empty")
    finally:
        agent.kill()
        backend.stop()

    received = [m.json() for m in backend.on(EVENTS)]
    ids = [e["event_id"] for e in received]
    assert set(ids) == set(produced), "lost or foreign event ids"
    duplicates = len(ids) - len(set(ids))
    print(f"{n} events: 0 lost, {duplicates} duplicates")
    # duplicates are whole repeats of an event (same id, same content), never altered copies
    by_id = {}
    for e in received:
        assert by_id.setdefault(e["event_id"], e) == e
    # in order per bay (first occurrence of each event_id)
    seen: set[str] = set()
    per_bay: dict[str, list[int]] = defaultdict(list)
    for e in received:
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            per_bay[e["bay_id"]].append(e["data"]["seq"])
    assert sorted(per_bay) == BAYS
    for bay, seqs in per_bay.items():
        assert seqs == list(range(n // len(BAYS))), f"{bay} out of order"


def test_broker_restart_mid_stream_loses_nothing(broker, tmp_path):
    """Rows already handed to paho when the broker dies are re-sent by paho after CONNACK;
    rows written during the outage wait on disk. Same process throughout."""
    from edge_agent.clock import SystemClock
    from edge_agent.events.bus import EventBus
    from edge_agent.events.health import no_health
    from edge_agent.events.mqtt_link import build_mqtt
    from edge_agent.events.types import Event
    from tests.events.helpers import RecordingControl, make_config

    clock, bus = SystemClock(), EventBus()
    backend = Subscriber(broker.port, EVENTS, client_id="backend-2", persistent=True).start()
    link = build_mqtt(make_config(broker.url(), tmp_path / "data"), bus, RecordingControl(), clock, no_health)
    link.start()
    wait_until(lambda: link.status().connected, what="the link to connect")
    produced = []

    def produce(count: int) -> None:
        for _ in range(count):
            e = Event.make("vehicle_identified", clock, bay_id=BAYS[len(produced) % 4], data={"seq": len(produced) // 4})
            produced.append(e.event_id)
            bus.publish(e)

    try:
        produce(400)
        in_flight_at_stop = link.outbox_depth()
        broker.stop()  # while many of those 400 are still in flight
        wait_until(lambda: not link.status().connected, what="the link to notice")
        produce(400)
        assert link.outbox_depth() >= 400
        print(f"{in_flight_at_stop} unacked when the broker stopped")
        broker.start()
        wait_until(lambda: {m.json()["event_id"] for m in backend.on(EVENTS)} >= set(produced), 60, "all events")
        wait_until(lambda: link.outbox_depth() == 0, 30, "the outbox to drain")
    finally:
        link.stop()
        backend.stop()
    first: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for e in (m.json() for m in backend.on(EVENTS)):
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            first[e["bay_id"]].append(e["data"]["seq"])
    assert all(seqs == list(range(200)) for seqs in first.values()), "out of order within a bay"


def test_kill_mid_stream_with_broker_up_repeats_but_never_loses(broker, tmp_path):
    """SIGKILL while PUBACKs are still on their way: rows whose deletion did not happen are
    sent again by the next process — repeats of the same event_id, nothing missing."""
    n = 600
    cfg = write_config(tmp_path / "agent.yaml", broker.url(), tmp_path / "data", outbox={"synchronous": "normal"})
    ids_file = tmp_path / "ids.txt"
    backend = Subscriber(broker.port, EVENTS, client_id="backend-3", persistent=True).start()
    agent = ChildAgent(cfg, events=n, ids=ids_file)
    try:
        agent.wait_line(f"produced {n}", timeout=120)
        agent.kill()
        left = len(_outbox_event_ids(tmp_path / "data" / "mqtt-outbox.sqlite"))
        agent = ChildAgent(cfg)
        agent.wait_line("started")
        produced = ids_file.read_text().split()
        wait_until(lambda: {m.json()["event_id"] for m in backend.on(EVENTS)} >= set(produced), 60, "all events")
    finally:
        agent.kill()
        backend.stop()
    ids = [m.json()["event_id"] for m in backend.on(EVENTS)]
    assert set(ids) == set(produced)
    print(f"killed with {left} rows unacked on disk: 0 lost, {len(ids) - len(set(ids))} duplicates")
