"""A kill during the start's own ``put_missing`` (probe chaos35).

The start noted itself in the outbox (``note_start``) before putting in the events it found a kill had kept out. A
kill between the two (a crash loop kills at starts) left the mark naming a run the ledger never recorded, so the next
start compared nothing and those events never went out. The note now comes after the puts. The kill is taken inside
the outbox's ``put``: an exception the bus does not catch stops the start where a SIGKILL would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config


class Killed(BaseException):
    """The process dies here: nothing after it runs."""


def _killed(*_a: object, **_k: object) -> None:
    raise Killed


def _parts(tmp_path: Path, clock: FakeClock):  # noqa: ANN202
    """The agent's recorder and (unstarted) MQTT link as ``run`` builds them, the start not yet looked."""
    cfg = scene_config(str(tmp_path / "data"), mqtt={"enabled": True, "brokers": ["mqtt://127.0.0.1:1"]})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, EMPTY), clock))
    assert parts.recorder is not None and parts.link is not None
    parts.recorder.start()
    return parts


def test_an_event_kept_out_by_a_kill_survives_a_kill_during_the_next_starts_own_put(tmp_path):
    clock = FakeClock()
    first = _parts(tmp_path, clock)
    first.recorder.close_previous_run()
    first.agent.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v-a"))
    first.link.outbox.put = _killed  # type: ignore[method-assign]
    lost = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="v-b")
    with pytest.raises(Killed):  # logged, never in the outbox
        first.agent.bus.publish(lost)
    first.link.stop(flush_s=0)
    clock.advance(60)
    second = _parts(tmp_path, clock)
    second.link.outbox.put = _killed  # type: ignore[method-assign]
    with pytest.raises(Killed):  # killed as its start puts ``lost`` in: nothing after it ran (no ledger row)
        second.recorder.close_previous_run()
    second.link.stop(flush_s=0)
    clock.advance(60)
    third = _parts(tmp_path, clock)
    try:
        assert third.recorder.close_previous_run() is not None
        ids = [json.loads(r.payload).get("event_id") for r in third.link.outbox.pending(limit=10_000)]
        assert ids.count(lost.event_id) == 1, "an event a kill kept out never went out after a kill at the next start"
    finally:
        third.recorder.stop()
        third.link.stop(flush_s=0)
