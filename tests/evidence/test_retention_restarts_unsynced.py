"""Retention on a clock nobody synchronised, across restarts with no new records (review69).

chaos37 believes an unsynced clock no further than the newest record at the start plus this run's uptime. With no new
record (a quiet bay, a site closed for the season) and a restart each day (a nightly reboot, ``systemctl restart``, a
crash loop), that bound fell back to the same old record at every start: photos and plates were kept for ever, 10 days
past ``max_age_days`` here and counting, while the wall clock had run on with the device. The time each run saw pass is
now carried over (``evidence/age.py``): only real downtime is not counted, as documented."""

from __future__ import annotations

from datetime import timedelta

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationLog

JPEG = b"\xff\xd8" + b"x" * 998
DAY = 86400.0
HOUR = 3600.0


def _restart(clock: FakeClock, synced: bool | None) -> FakeClock:
    """A new process on the same wall clock (no downtime: a restart), its monotonic clock started again."""
    return FakeClock(clock.now() + timedelta(seconds=0), monotonic_start=5.0, synced=synced)


@pytest.mark.parametrize("synced", [False, None])
def test_daily_restarts_without_new_photos_still_age_them(tmp_path, clock, synced):
    store = EvidenceStore(tmp_path, clock, max_age_days=30)
    ids = [store.save("A", f"v{i}", "vehicle_identified", JPEG, JPEG[:300], "京AD12345", {}) for i in range(3)]
    store.close()
    now = clock
    day = 0
    for day in range(1, 41):  # noqa: B007 - read after the loop
        now = _restart(now, synced)
        store = EvidenceStore(tmp_path, now, max_age_days=30)
        for _ in range(24):  # hourly passes through the day, then the nightly restart
            store.enforce_retention()
            now.advance(HOUR)
        gone = all(store.get(i) is None for i in ids)
        store.close()
        if gone:
            break
    assert gone, "photos 40 days old (max_age_days 30) still kept after 40 daily restarts"
    assert day <= 32  # gone within 2 days of their 30: at most the hour after each run's last pass is not counted


@pytest.mark.parametrize("synced", [False, None])
def test_daily_restarts_without_new_visits_still_take_plates_out(tmp_path, clock, synced):
    log = ViolationLog(tmp_path / "evidence.db", clock)
    log.record(
        Event.make(
            EventType.VEHICLE_IDENTIFIED, clock, bay_id="A", visit_id="v0", data={"plate": "粤BD12345", "nev": True}
        )
    )
    clock.advance(600)
    log.record(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id="v0", data={}))
    log.close()
    now, unnamed = clock, 0
    day = 0
    for day in range(1, 41):  # noqa: B007 - read after the loop
        now = _restart(now, synced)
        log = ViolationLog(tmp_path / "evidence.db", now)
        for _ in range(24):
            unnamed += log.unname(30)
            now.advance(HOUR)
        log.close()
        if unnamed:
            break
    assert unnamed == 1, "a plate 40 days old (plate_days 30) still in the events after 40 daily restarts"
    assert day <= 32


def test_a_clock_ahead_after_the_restarts_is_still_not_believed(tmp_path, clock):
    """What is carried over is the bounded time, never the wall clock's word: chaos37's case still holds."""
    store = EvidenceStore(tmp_path, clock, max_age_days=30)
    ids = [store.save("A", "v", "vehicle_identified", JPEG, JPEG[:300], "京AD12345", {})]
    now = clock
    for _ in range(3):
        store.enforce_retention()
        now.advance(HOUR)
    store.close()
    ahead = FakeClock(now.now() + timedelta(days=40), monotonic_start=5.0, synced=False)
    store = EvidenceStore(tmp_path, ahead, max_age_days=30)
    store.enforce_retention()
    ahead.advance(HOUR)
    store.close()
    store = EvidenceStore(tmp_path, FakeClock(ahead.now(), monotonic_start=5.0, synced=False), max_age_days=30)
    assert store.enforce_retention() == 0
    assert store.get(ids[0]) is not None
    store.close()
