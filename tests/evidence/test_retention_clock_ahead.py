"""Retention after a restart on a wall clock nobody synchronised: it must not delete on that clock's word (chaos37).

A restart with the clock 40 days ahead (no NTP yet; a wrong RTC, a hand-set clock) deleted the photos and plates of
3 visits minutes old: the monotonic guard covers only the records this process saved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from edge_agent.clock import FakeClock
from edge_agent.evidence.store import EvidenceStore

JPEG = b"\xff\xd8" + b"x" * 998
DAY = 86400.0


def _three_visits(root, clock):
    store = EvidenceStore(root, clock, max_age_days=30)
    ids = [store.save("A", f"v{i}", "vehicle_identified", JPEG, JPEG[:300], "京AD12345", {}) for i in range(3)]
    store.close()
    return ids


def _restart(clock, ahead_s, synced):
    """A new process (its monotonic clock starts again) on a wall clock ``ahead_s`` ahead of the real time."""
    return FakeClock(clock.now() + timedelta(seconds=ahead_s), monotonic_start=5.0, synced=synced)


@pytest.mark.parametrize("synced", [False, None])
def test_a_clock_40_days_ahead_and_not_synced_deletes_nothing(tmp_path, clock, synced):
    ids = _three_visits(tmp_path, clock)
    later = _restart(clock, 40 * DAY, synced)
    store = EvidenceStore(tmp_path, later, max_age_days=30)
    assert store.enforce_retention() == 0
    assert all(store.get(i) is not None for i in ids)
    later.advance(29 * DAY)  # 29 days of real time: still younger than 30 days
    assert store.enforce_retention() == 0
    later.advance(2 * DAY)  # 31 days: they go, on the time the store itself has seen pass
    assert store.enforce_retention() == 3
    assert all(store.get(i) is None for i in ids)


def test_a_synced_clock_is_believed(tmp_path, clock):
    """The device really was off for 40 days and NTP says the clock is right: the old photos go at once."""
    ids = _three_visits(tmp_path, clock)
    store = EvidenceStore(tmp_path, _restart(clock, 40 * DAY, True), max_age_days=30)
    assert store.enforce_retention() == 3
    assert all(store.get(i) is None for i in ids)


def test_a_clock_behind_keeps_photos_longer_as_before(tmp_path, clock):
    _three_visits(tmp_path, clock)
    later = _restart(clock, -2 * DAY, False)
    store = EvidenceStore(tmp_path, later, max_age_days=30)
    later.advance(31 * DAY)
    assert store.enforce_retention() == 0  # its clock reads 29 days after them
    later.advance(2 * DAY)
    assert store.enforce_retention() == 3


@pytest.mark.parametrize("synced", [False, True])
def test_a_clock_40_days_ahead_takes_no_plate_out_of_recent_visits_unless_synced(tmp_path, clock, synced):
    """The plates in the events (``unname`` at ``plate_days``, the photos' age) went with the photos."""
    from edge_agent.events.types import Event, EventType
    from edge_agent.evidence.violations import ViolationLog

    log = ViolationLog(tmp_path / "evidence.db", clock)
    for i in range(3):
        log.record(
            Event.make(
                EventType.VEHICLE_IDENTIFIED,
                clock,
                bay_id="A",
                visit_id=f"v{i}",
                data={"plate": "粤BD12345", "nev": True},
            )
        )
        clock.advance(600)
        log.record(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id=f"v{i}", data={}))
    log.close()
    later = _restart(clock, 40 * DAY, synced)
    log = ViolationLog(tmp_path / "evidence.db", later)
    try:
        assert log.unname(30) == (3 if synced else 0)
        assert log.prune(30) == (6 if synced else 0)  # history_days set as short: the events themselves
    finally:
        log.close()
