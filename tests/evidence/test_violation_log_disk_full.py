"""The violation log on a full disk (a real tmpfs): an event it cannot write is held and written when there is
room, said once. Before, each raised (a traceback per event) and was gone: the review page lost the violation
or its end, and the next start "ended" a visit the backend had seen depart, with ``reason: agent_stopped``."""

from __future__ import annotations

import logging

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.evidence.violations import ViolationFilter
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)


def _visit_begins(bus: EventBus, clock: FakeClock, visit: str) -> None:
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id=visit))
    bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id=visit,
                           data={"plate": "京A12345", "reason": "fuel_vehicle"}))
    clock.advance(60)


def _visit_ends(bus: EventBus, clock: FakeClock, visit: str) -> None:
    bus.publish(Event.make(EventType.VIOLATION_ENDED, clock, bay_id="A", visit_id=visit, data={"reason": "departed"}))
    bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id=visit, data={"stayed_s": 60}))
    clock.advance(60)


def test_events_a_full_disk_kept_out_are_written_when_room_returns(tiny_disk, caplog):  # noqa: F811
    disk = tiny_disk(2)
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(disk / "evidence.db", clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    _visit_begins(bus, clock, "before")
    _visit_ends(bus, clock, "before")
    _visit_begins(bus, clock, "across")
    filler = fill(disk)
    with caplog.at_level(logging.INFO):
        _visit_ends(bus, clock, "across")  # its end comes while the disk is full...
        _visit_begins(bus, clock, "during")  # ...and all of this visit
        _visit_ends(bus, clock, "during")
        filler.unlink()
        rec.mark_alive()  # the minute's hook: written without waiting for a new event
    rec.stop()
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1 and "held in memory" in failures[0].getMessage()  # said once, no traceback

    bus = EventBus()
    rec = ViolationRecorder(disk / "evidence.db", clock, bus, history_days=400)
    try:
        assert rec.runs.begin() == []  # nothing left open: no invented "agent_stopped" ending
        ended = {v.visit_id: v.ended_at is not None for v in rec.log.iter_all(ViolationFilter())}
        assert ended == {"before": True, "across": True, "during": True}
    finally:
        rec.stop()


def test_an_event_the_log_cannot_take_for_another_reason_does_not_block_the_ones_after_it(tmp_path):
    """Only a full disk holds events: one that fails otherwise (a stamp that is no time) is dropped and logged,
    and every later event is recorded as before."""
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400)
    rec.start()
    try:
        bus.publish(Event(EventType.VEHICLE_ARRIVED, "not a time", "A", "bad"))
        _visit_begins(bus, clock, "next")
        _visit_ends(bus, clock, "next")
        assert [v.visit_id for v in rec.log.iter_all(ViolationFilter())] == ["next"]
        assert rec.log.timeline("bad") == [] and len(rec.log.timeline("next")) == 4
    finally:
        rec.stop()
