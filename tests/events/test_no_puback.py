"""A broker that takes the connection and the messages and never acknowledges one (probe chaos41): its pings
answered, the connection stayed up; paho held its 20 in flight and sends nothing more on a connection (MQTT 5
§4.4: a resend only on a new one), so the outbox stalled for as long as the connection lasted — a real ``run``
against such a broker for 90 s: 20 events sent, none acknowledged, 76 waiting, no line in the log. Now a connection
on which nothing is acknowledged for ``ack_wait_s`` is dropped and made again, and paho sends what it holds again
(DUP); the log says so."""

from __future__ import annotations

import logging

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.events.types import Event, EventType
from tests.events.helpers import RecordingControl, make_config
from tests.events.mute_broker import MuteBroker


def test_a_connection_that_acknowledges_nothing_is_made_again_and_the_messages_resent(tmp_path, caplog):
    broker = MuteBroker()
    clock, bus = FakeClock(), EventBus()
    link = build_mqtt(
        make_config(broker.url(), tmp_path, keepalive_s=30), bus, RecordingControl(), clock, lambda: HealthFigures()
    )
    try:
        link.start()
        assert broker.wait_for(lambda b: b.connects == 1)
        ids = [Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1", visit_id=f"v{i}") for i in range(3)]
        for ev in ids:
            bus.publish(ev)
        events = "edge/s1/dev1/events"
        assert broker.wait_for(lambda b: sum(p[3] == events for p in b.publishes) == 3)
        clock.advance(59)  # short of the wait: nothing done (the QoS 0 heartbeat due meanwhile is no answer)
        assert not broker.wait_for(lambda b: b.connects > 1, timeout=1.0)
        with caplog.at_level(logging.WARNING):
            clock.advance(2)
            assert broker.wait_for(lambda b: b.connects == 2), "a connection that acknowledged nothing was kept"
            again = lambda b: sum(p[0] == 2 and p[1] == 1 and p[3] == events for p in b.publishes)  # noqa: E731
            assert broker.wait_for(lambda b: again(b) == 3), broker.publishes
        assert "acknowledged none" in caplog.text
        assert link.outbox.depth() >= 3  # still waiting for a PUBACK: kept on disk
    finally:
        link.stop(flush_s=0)
        broker.close()


def test_a_stop_against_a_broker_that_acknowledges_nothing_keeps_to_its_budget_and_closes_the_databases(tmp_path):
    """``run``'s stop plan against such a broker: the flush waited all the time it was given, then the offline
    status's PUBACK 3 s more, so the link's step overran the budget and "close databases" was skipped — the evidence
    index left open, its WAL folded only at the next open (probe chaos42). Both now keep to the budget."""
    from edge_agent.ops.signals import ShutdownPlan
    from edge_agent.runtime.assemble import assemble
    from edge_agent.runtime.commands import plan_stop
    from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config

    broker, clock = MuteBroker(), FakeClock()
    cfg = scene_config(str(tmp_path / "data"), mqtt={"enabled": True, "brokers": [broker.url()]})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, EMPTY), clock), review=False)
    assert parts.link is not None
    closed: list[bool] = []
    parts.agent.close = lambda: closed.append(True)  # type: ignore[method-assign]
    try:
        parts.link.start()
        assert broker.wait_for(lambda b: b.connects == 1)
        parts.agent.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v"))
        assert broker.wait_for(lambda b: any(p[3].endswith("/events") for p in b.publishes))
        plan = ShutdownPlan(budget_s=3.0)
        plan_stop(plan, parts)
        results = {r.name: r.status for r in plan.run()}
        # the link's own waits end about 0.8 s inside its share; a CPU-starved CI may still see its step time out,
        # which is no fault of the stop (wall time): the fault was the close being skipped after it
        assert results["mqtt flush + offline"] in ("ok", "timeout"), results
        assert results["close databases"] == "ok" and closed == [True], results
    finally:
        parts.link.stop(flush_s=0)
        broker.close()
