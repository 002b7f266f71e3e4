"""A start on a card kept full, stopped before the card had room (an operator stops the agent to clear the card, then
starts it): the start was put off (``test_start_on_a_full_disk.py``) and ended the previous run's visits from a read,
at once — the departures went out on the bus (MQTT, events.jsonl) while the index could not record them, and the stop
could not keep them either (``held-events.jsonl`` on the same card). The next start found those visits still open and
ended them again: a second ``vehicle_departed`` (``agent_stopped``) for the same visit, with a new ``event_id``, which
no consumer's de-duplication absorbs (probe review63; before chaos36 such a start ended nothing and the next one
ended the visit once). The end of a visit a run left open is one fact however often it is told: its ``event_id`` is
derived from the visit, so a second telling is the same event."""

from __future__ import annotations

import logging

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)


def _run(disk, clock: FakeClock, heard: list[Event]) -> ViolationRecorder:  # noqa: ANN001
    bus = EventBus()
    bus.subscribe(heard.append)
    rec = ViolationRecorder(disk / "evidence.db", clock, bus, history_days=400)
    rec.start()
    return rec


def _a_run_left_with_a_car_parked(disk, clock: FakeClock, heard: list[Event]) -> None:  # noqa: ANN001
    """A run whose car A (visit v1) is still parked when it stops, its last sign of life recorded."""
    rec = _run(disk, clock, heard)
    rec.close_previous_run()
    rec.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    clock.advance(60)
    rec.mark_alive()
    rec.marks.drain(5)
    rec.stop()


def test_a_visit_ended_by_a_start_the_full_disk_never_recorded_is_told_again_as_the_same_event(tiny_disk):  # noqa: F811
    disk = tiny_disk(2)
    clock = FakeClock()
    heard: list[Event] = []
    rec = _run(disk, clock, heard)
    rec.close_previous_run()
    rec.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    rec.bus.publish(
        Event.make(
            EventType.VIOLATION_STARTED,
            clock,
            bay_id="A",
            visit_id="v1",
            data={"plate": "京A12345", "reason": "not_nev"},
        )
    )
    clock.advance(60)
    rec.mark_alive()
    rec.marks.drain(5)
    rec.stop()  # the car still parked, its violation open
    clock.advance(120)

    rec = _run(disk, clock, heard)
    rec.log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: the start's row needs new pages
    filler = fill(disk)
    try:
        rec.close_previous_run()  # put off: the visit ended from a read, on the bus, not in the index
        clock.advance(60)
        rec.mark_alive()
        rec.stop()  # still full: nothing of it recorded
    finally:
        filler.unlink()
    told = [e for e in heard if e.data.get("reason") == "agent_stopped"]
    assert [e.type for e in told] == [EventType.VIOLATION_ENDED, EventType.VEHICLE_DEPARTED]

    clock.advance(120)
    rec = _run(disk, clock, heard)
    rec.close_previous_run()  # room again: the visit is still open in the index and is ended again
    rec.stop()
    again = [e for e in heard if e.data.get("reason") == "agent_stopped"][len(told) :]
    assert [e.type for e in again] == [e.type for e in told]
    assert [e.event_id for e in again] == [e.event_id for e in told]  # the same events: de-duplicated downstream
    assert [e.to_dict() for e in again] == [e.to_dict() for e in told]


def test_a_read_of_what_a_start_would_end_names_the_same_events_as_the_start(tmp_path):
    """The lock's put-off path too: ``closing`` (a read, told at once) and ``begin`` (the record, once the lock goes,
    or the next start's if the run was killed first) name the same events."""
    clock = FakeClock()
    heard: list[Event] = []
    _a_run_left_with_a_car_parked(tmp_path, clock, heard)
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, EventBus())
    try:
        read = rec.runs.closing()
        assert [e.event_id for e in read] == [e.event_id for e in rec.runs.begin()] and read
        assert {e.event_id for e in read}.isdisjoint(e.event_id for e in heard)
    finally:
        rec.stop()


def test_a_start_put_off_by_a_full_disk_says_so_at_the_stop_not_a_lock(tiny_disk, caplog):  # noqa: F811
    """The stop's and the put-off's lines named "the lock" for a full card too: an operator went looking for a
    ``sqlite3`` shell or a backup, not for what filled the card (probe review63)."""
    disk = tiny_disk(2)
    clock = FakeClock()
    heard: list[Event] = []
    _a_run_left_with_a_car_parked(disk, clock, heard)
    rec = _run(disk, clock, heard)
    rec.log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = fill(disk)
    try:
        with caplog.at_level(logging.INFO, logger="edge_agent.evidence.recorder"):
            rec.close_previous_run()
            rec.stop()
    finally:
        filler.unlink()
    said = [r.getMessage() for r in caplog.records if r.name == "edge_agent.evidence.recorder"]
    assert said and not [m for m in said if "lock" in m], said
    assert any("disk still full at stop" in m for m in said), said
