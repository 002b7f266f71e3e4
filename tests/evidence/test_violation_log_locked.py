"""The violation log on a database another program holds locked past the recorder's wait (a backup, ``evidence
forget``, a copy being taken): the events meanwhile are held and written once the lock goes, like a full disk's.
Before, each was tried as a batch, then again on its own, and dropped ("not recorded: database is locked"): the
review page never showed a violation that began meanwhile, and its visit's timeline had a hole."""

from __future__ import annotations

import logging
import sqlite3

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.evidence.violations import ViolationFilter


def test_events_a_locked_database_kept_out_are_held_and_written_when_it_is_free(tmp_path, caplog):
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    rec.log._db.execute("PRAGMA busy_timeout=20")  # the recorder's 10 s wait ran out: the point is what follows
    other = sqlite3.connect(tmp_path / "evidence.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.INFO):
            bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
            bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="v1",
                                   data={"plate": "京A12345", "reason": "fuel_vehicle"}))
            assert rec.log.held == 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    rec.mark_alive()  # the minute's hook writes them without waiting for a new event
    assert rec.log.held == 0
    assert [v.visit_id for v in rec.log.iter_all(ViolationFilter())] == ["v1"]
    assert [e.type for e in rec.log.timeline("v1")] == [EventType.VEHICLE_ARRIVED, EventType.VIOLATION_STARTED]
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(said) == 1 and "held in memory" in said[0] and "locked" in said[0], said  # once, naming why
    assert not any("not recorded" in r.getMessage() for r in caplog.records)
    rec.stop()


def test_a_stop_on_a_locked_database_names_the_lock_and_what_the_page_loses(tmp_path, caplog):
    """An agent stopped (an upgrade, going back) while a backup holds the database: the held events are not recorded.
    The stop's line said "disk still full" with room to spare, sending the operator to the wrong problem."""
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    rec.log._db.execute("PRAGMA busy_timeout=20")
    other = sqlite3.connect(tmp_path / "evidence.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="v1",
                               data={"plate": "京A12345", "reason": "fuel_vehicle"}))
        assert rec.log.held == 1
        with caplog.at_level(logging.ERROR):
            rec.log.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    said = [r.getMessage() for r in caplog.records if "at stop" in r.getMessage()]
    assert len(said) == 1 and "1 held event(s) not recorded" in said[0], said
    assert "locked" in said[0] and "disk" not in said[0], said
    assert "review page" in said[0], said  # what the operator loses: the violation on the page
