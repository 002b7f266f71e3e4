"""A clock_stepped event when NTP steps the wall clock against the monotonic one (a Pi without RTC
boots at 1970 or its last saved time), on a FakeClock: no sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.schemas import first_error
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.clock_watch import ClockWatch

BOOT = datetime(1970, 1, 1, 0, 0, 12, tzinfo=timezone.utc)  # a Pi without RTC and without fake-hwclock
REAL = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def watched(clock: FakeClock) -> tuple[ClockWatch, list[Event]]:
    bus, events = EventBus(), []
    bus.subscribe(events.append)
    return ClockWatch(bus, clock), events


def test_the_ntp_step_after_boot_is_one_event_with_its_size_and_the_sync_state():
    clock = FakeClock(BOOT, synced=False)
    watch, events = watched(clock)
    watch.check()  # the first look only takes the offset
    clock.advance(30)  # both clocks run: no step
    watch.check()
    assert events == []
    step = (REAL - clock.now()).total_seconds()
    clock.step_wall(step)
    clock.set_synced(True)
    clock.advance(0.2)
    ev = watch.check()
    assert [e.type for e in events] == [EventType.CLOCK_STEPPED] and ev is events[0]
    assert ev.data == {"step_s": round(step, 3), "clock_synced": True}
    assert ev.ts.startswith("2026-03-02T09:30:00.200")  # stamped on the corrected clock
    assert first_error("event.json", ev.to_dict()) is None
    clock.advance(60)
    assert watch.check() is None  # said once


def test_a_step_back_is_negative_and_small_jitter_is_no_step():
    clock = FakeClock(REAL, synced=None)
    watch, events = watched(clock)
    watch.check()
    clock.step_wall(0.9)  # under the 1 s threshold (the stats use the same)
    watch.check()
    clock.step_wall(-7200)  # the clock ran two hours ahead
    watch.check()
    assert [e.data for e in events] == [{"step_s": -7200.0, "clock_synced": None}]


def test_the_event_schema_requires_the_step():
    ev = Event.make(EventType.CLOCK_STEPPED, FakeClock(), data={"clock_synced": False}).to_dict()
    assert "step_s" in (first_error("event.json", ev) or "")
    ev["data"]["step_s"] = 3.5
    assert first_error("event.json", ev) is None


@pytest.mark.parametrize("start", ["2026-03-29T01:30:00+01:00", "2026-10-25T02:30:00+02:00"])
def test_a_clock_running_through_a_dst_change_is_no_step(start):
    """Berlin's spring (02:00 → 03:00) and autumn (03:00 → 02:00) changes: the local reading jumps, the
    instant does not. A fake clock that added seconds to the local reading ran an hour back in March
    (a clock_stepped of -3600 s in every replay over the change) and skipped an hour in October."""
    tz = ZoneInfo("Europe/Berlin")
    clock = FakeClock(datetime.fromisoformat(start).astimezone(tz))
    watch, events = watched(clock)
    t0, m0 = clock.now(), clock.monotonic()
    watch.check()
    offsets = set()
    for _ in range(12):  # two hours in 10 min steps, over the change
        clock.advance(600)
        watch.check()
        offsets.add(clock.now().utcoffset())
        assert clock.now().timestamp() - t0.timestamp() == clock.monotonic() - m0
    assert events == []
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}  # shown in the zone's offset of the moment
