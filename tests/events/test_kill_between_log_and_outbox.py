"""A kill between the violation log's write and the MQTT outbox's (the log is written first, on purpose).

The arrival was then in the log only: the next start ended that visit with an ``agent_stopped`` departure, which went
out, for an arrival the backend never received. Now the start puts into the outbox, before any ending, the log's
newest events the outbox never took (it notes each event it takes, in the event's own transaction), in order, and
through no other sink but events.jsonl (``test_put_missing_events_log.py``). The kill is taken inside the outbox's
``put``, before it writes: an exception the bus does not catch (it catches ``Exception``) stops the publication where a
SIGKILL would.
"""

from __future__ import annotations

import json

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.broker import LocalBroker
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config
from tests.events.conftest import _need_mosquitto
from tests.events.helpers import Subscriber, wait_until

pytestmark = pytest.mark.broker

EVENTS = "edge/demo-site/demo-cam/events"


class Killed(BaseException):
    """The process dies here: nothing after it runs."""


def _run(tmp_path, clock, broker: LocalBroker):  # noqa: ANN001, ANN202
    """The agent's parts as ``run`` builds them (recorder and MQTT link), started."""
    cfg = scene_config(str(tmp_path / "data"), mqtt={"enabled": True, "brokers": [broker.url()],
                                                     "reconnect_min_s": 1})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, EMPTY), clock))
    assert parts.link is not None and parts.recorder is not None
    parts.link.start()
    parts.recorder.start()
    parts.recorder.close_previous_run()
    return parts


def test_an_arrival_a_kill_kept_from_the_outbox_goes_out_before_its_agent_stopped_departure(tmp_path):
    _need_mosquitto()
    clock = FakeClock()
    broker = LocalBroker(tmp_path / "broker").start()
    backend = Subscriber(broker.port, EVENTS, client_id="backend", persistent=True).start()
    try:
        first = _run(tmp_path, clock, broker)
        delivered = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v-a")
        first.agent.bus.publish(delivered)
        wait_until(lambda: len(backend.on(EVENTS)) == 1, what="the first arrival")

        def killed(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
            raise Killed

        first.link.outbox.put = killed  # type: ignore[method-assign]
        lost = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="v-b")
        with pytest.raises(Killed):
            first.agent.bus.publish(lost)
        first.link.stop(flush_s=0)  # its connection goes with the process (its outbox as the kill left it)

        clock.advance(120)
        second = _run(tmp_path, clock, broker)  # the restart on the same data dir
        try:
            def story() -> list[tuple[str, str | None, str | None]]:
                return [(e["type"], e["bay_id"], e["data"].get("reason"))
                        for e in (json.loads(m.payload) for m in backend.on(EVENTS))]

            wait_until(lambda: sum(t == "vehicle_departed" for t, _, _ in story()) == 2, 15, "the two endings")
            got = story()
            assert ("vehicle_departed", "B", "agent_stopped") in got
            assert ("vehicle_arrived", "B", None) in got, f"a departure for an arrival never sent: {got}"
            assert got.index(("vehicle_arrived", "B", None)) < got.index(("vehicle_departed", "B", "agent_stopped"))
            ids = [json.loads(m.payload)["event_id"] for m in backend.on(EVENTS)]
            assert ids.count(lost.event_id) == 1 and ids.count(delivered.event_id) == 1  # each once
        finally:
            second.recorder.stop()
            second.link.stop(flush_s=1)
    finally:
        backend.stop()
        broker.stop()
