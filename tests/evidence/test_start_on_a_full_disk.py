"""A start on a card kept full: the run ledger's row for this start (and the end of the visits the previous run left
open) could not be written. Before, one traceback (``could not end what the previous run left open``) and nothing
more: the previous run's visit stayed open on the backend beside this run's own, and this run was never recorded, so
the next start could not tell which of its events a kill kept from the MQTT outbox (probe chaos36, a real ``run`` on
an 8 MB tmpfs). Now it is put off as for another program's lock: the visits are ended from a read at once, and the
start is recorded at the minute once there is room, said in one line and no traceback."""

from __future__ import annotations

import logging

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)


def test_a_start_the_full_disk_cannot_record_is_recorded_once_there_is_room(tiny_disk, caplog):  # noqa: F811
    disk = tiny_disk(2)
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(disk / "evidence.db", clock, bus, history_days=400)
    rec.close_previous_run()
    rec.start()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    clock.advance(60)
    rec.mark_alive()
    rec.marks.drain(5)
    rec.stop()  # the run ends with the car still parked: its visit is open
    clock.advance(120)

    bus = EventBus()
    heard: list[Event] = []
    bus.subscribe(heard.append)
    rec = ViolationRecorder(disk / "evidence.db", clock, bus, history_days=400)
    rec.start()
    rec.log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: the start's row needs new pages
    filler = fill(disk)
    try:
        with caplog.at_level(logging.INFO):
            left = rec.close_previous_run()
            departed = [e for e in heard if e.type == EventType.VEHICLE_DEPARTED]
            # the previous run's visit is ended now, from a read, before any event of this run
            assert [(e.visit_id, e.data["reason"]) for e in departed] == [("v1", "agent_stopped")]
            assert left == {"A"} or left == set()
            clock.advance(60)
            rec.mark_alive()  # still full: put off again, quietly
        assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    finally:
        filler.unlink()
    clock.advance(60)
    rec.mark_alive()  # the minute once there is room: this start recorded
    rec.marks.drain(5)
    assert [e.visit_id for e in heard if e.type == EventType.VEHICLE_DEPARTED] == ["v1"]  # ended once
    rec.stop()

    bus = EventBus()
    rec = ViolationRecorder(disk / "evidence.db", clock, bus, history_days=400)
    try:
        assert rec.runs.begin() == []  # nothing left open, nothing ended twice
        assert rec.runs._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3  # the full disk's run is recorded
    finally:
        rec.stop()
