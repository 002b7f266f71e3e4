"""The metrics endpoint, scraped over loopback, shows what happened on the bus."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.ops.metrics import AgentMetrics, start_metrics_server


@pytest.fixture
def served():
    metrics = AgentMetrics()
    server = start_metrics_server(0, metrics.registry)
    yield metrics, f"http://127.0.0.1:{server.port}/metrics"
    server.shutdown()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    resp = httpx.get(url, timeout=5)
    assert resp.status_code == 200
    out = {}
    for fam in text_string_to_metric_families(resp.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_scrape_shows_bus_events_and_gauges(served, clock):
    metrics, url = served
    bus = EventBus()
    metrics.attach(bus)
    for _ in range(3):
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1"))
    bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A1"))
    bus.publish(Event.make(EventType.LOCK_MOVED, clock, bay_id="A1", data={"to": "down"}))
    bus.publish(Event.make(EventType.LOCK_MOVED, clock, bay_id="A1", data={"to": "up"}))
    bus.publish(Event.make(EventType.LOCK_MOVED, clock, bay_id="A2", data={"to": "up"}))
    bus.publish(Event.make(EventType.LOCK_FAULT, clock, bay_id="A2", data={"reason": "motor timeout"}))
    bus.publish(Event.make(EventType.CAMERA_LOST, clock))
    bus.publish(Event.make(EventType.CAMERA_RESTORED, clock))
    metrics.fps.set(4.8)
    metrics.outbox_depth.set_function(lambda: 17)
    metrics.loops_stuck.set_function(lambda: 1)
    for seconds in (0.04, 0.3, 0.3, 2.0):
        metrics.inference_seconds.observe(seconds)

    m = scrape(url)
    assert m[("edge_agent_events_total", (("type", "vehicle_arrived"),))] == 3
    assert m[("edge_agent_events_total", (("type", "violation_started"),))] == 1
    assert m[("edge_agent_events_total", (("type", "lock_moved"),))] == 3
    assert m[("edge_agent_lock_moves_total", (("bay", "A1"), ("to", "down")))] == 1
    assert m[("edge_agent_lock_moves_total", (("bay", "A2"), ("to", "up")))] == 1
    assert m[("edge_agent_lock_faults_total", (("bay", "A2"),))] == 1
    assert m[("edge_agent_camera_reconnects_total", ())] == 1
    assert m[("edge_agent_camera_fps", ())] == 4.8
    assert m[("edge_agent_outbox_depth", ())] == 17
    assert m[("edge_agent_loops_stuck", ())] == 1
    assert m[("edge_agent_inference_seconds_count", ())] == 4
    assert m[("edge_agent_inference_seconds_bucket", (("le", "0.05"),))] == 1
    assert m[("edge_agent_inference_seconds_bucket", (("le", "0.35"),))] == 3
    assert m[("edge_agent_inference_seconds_sum", ())] == pytest.approx(2.64)


def test_two_agents_do_not_share_metrics_or_the_global_registry(clock):
    a, b = AgentMetrics(), AgentMetrics()  # would raise "Duplicated timeseries" on a shared registry
    a.on_event(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A1"))
    assert a.registry.get_sample_value("edge_agent_events_total", {"type": "vehicle_departed"}) == 1
    assert b.registry.get_sample_value("edge_agent_events_total", {"type": "vehicle_departed"}) is None
    assert REGISTRY.get_sample_value("edge_agent_events_total", {"type": "vehicle_departed"}) is None


def test_unsubscribe_stops_counting(clock):
    metrics, bus = AgentMetrics(), EventBus()
    off = metrics.attach(bus)
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1"))
    off()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1"))
    assert metrics.registry.get_sample_value("edge_agent_events_total", {"type": "vehicle_arrived"}) == 1
