"""A visit still in progress is not history, whatever its stamps say (probe chaos41).

A Pi without an RTC boots at 1970; a car arrives; NTP steps the clock to today (``clock_stepped``). The arrival is
stamped 1970, so the hourly prune (``history_days``) took it for 56 years old and deleted it while the car still
stood there: its departure then had no arrival on the page and in the statistics, and a restart before the departure
found no open visit to end (``agent_stopped``). A real ``run`` under libfaketime from 1970 to now logged 14 such
arrivals. The prune now keeps every event of a visit with no departure yet."""

from __future__ import annotations

from datetime import datetime, timezone

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder

STEP_S = datetime(2026, 12, 7, tzinfo=timezone.utc).timestamp() - 10.0


def test_the_prune_keeps_an_open_visit_stamped_before_the_clock_was_set(tmp_path):
    clock = FakeClock(datetime(1970, 1, 1, 0, 0, 10, tzinfo=timezone.utc))
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=30)
    rec.start()
    rec.close_previous_run()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="parked"))
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="gone"))
    clock.advance(5)
    bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="B", visit_id="gone"))
    clock.step_wall(STEP_S)  # NTP
    clock.set_synced(True)
    clock.advance(120)
    gone = rec.log.prune(30)
    visits = {r[0] for r in rec.log._db.execute("SELECT visit_id FROM events WHERE type = 'vehicle_arrived'")}
    assert "parked" in visits, "the arrival of a car still parked was pruned as 56 years old"
    assert "gone" not in visits and gone == 2  # an ended visit's old events go as before
    rec.stop()


def test_the_prune_forgets_old_events_of_a_visit_with_no_arrival(tmp_path):
    """A visit that has events but neither an arrival nor a departure is not in progress as far as anything can tell:
    no start ends it (``runs.py`` ends visits by their arrival), so "kept until it departs" kept it, its plate
    included, for good — on a device upgraded from 0.30.0, whose prune took exactly such arrivals (review99)."""
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=30)
    rec.start()
    rec.close_previous_run()
    bus.publish(
        Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="A", visit_id="orphan", data={"plate": "粤BD12345"})
    )
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="parked"))
    clock.advance(31 * 86400)
    rec.log.prune(30)
    visits = {r[0] for r in rec.log._db.execute("SELECT visit_id FROM events")}
    assert "parked" in visits  # a car still parked keeps its visit
    assert "orphan" not in visits, "a visit no start can end was kept past history_days, its plate with it"
    rec.stop()
