"""Retention on a device whose RTC is wrong ahead at every boot, until NTP steps it back (chaos39).

chaos37's bound believes an unsynced clock no further than the newest record at the start (or the time kept) plus
this run's uptime. The records of each boot's minutes before NTP synced are stamped by the wrong clock, 40 days ahead
here; the next boot's bound started from them, believed the same wrong clock, and deleted a day-old photo as 41 days
old. The time kept (``age_marks``) is never an unsynced clock's word: where one was kept it is the bound's start."""

from __future__ import annotations

from datetime import timedelta

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationLog

JPEG = b"\xff\xd8" + b"x" * 998
DAY = 86400.0
AHEAD = 40 * DAY


def _boot(real: FakeClock) -> FakeClock:
    """A boot at the real time ``real`` on an RTC 40 days ahead, not synced yet (a new monotonic clock)."""
    return FakeClock(real.now() + timedelta(seconds=AHEAD), monotonic_start=5.0, synced=False)


def _ntp_syncs(clock: FakeClock) -> None:
    clock.step_wall(-AHEAD)
    clock.set_synced(True)


def test_photos_a_day_old_outlive_a_second_boot_on_an_rtc_40_days_ahead(tmp_path, clock):
    first = EvidenceStore(tmp_path, clock, max_age_days=30)
    old = first.save("A", "v0", "vehicle_identified", JPEG, JPEG[:300], "京AD12345", {})
    first.enforce_retention()
    first.close()
    clock.advance(DAY)
    boot = _boot(clock)
    store = EvidenceStore(tmp_path, boot, max_age_days=30)
    store.save("A", "v1", "vehicle_identified", JPEG, JPEG[:300], "京AD12346", {})  # before NTP: stamped 40 days on
    assert store.enforce_retention() == 0
    boot.advance(600)
    _ntp_syncs(boot)
    fresh = store.save("A", "v2", "vehicle_identified", JPEG, JPEG[:300], "京AD12347", {})
    assert store.enforce_retention() == 0
    store.close()
    boot.advance(DAY)  # a day later the device boots again, 40 days ahead again
    again = EvidenceStore(tmp_path, _boot(boot), max_age_days=30)
    assert again.enforce_retention() == 0, "photos one and two days old deleted on a clock 40 days ahead"
    assert again.get(fresh) is not None and again.get(old) is not None
    again.close()


def test_plates_a_day_old_stay_in_the_events_after_a_second_boot_on_an_rtc_40_days_ahead(tmp_path, clock):
    def visit(log: ViolationLog, c: FakeClock, n: int) -> None:
        for kind, data in (
            (EventType.VEHICLE_IDENTIFIED, {"plate": f"粤BD1234{n}", "nev": True}),
            (EventType.VEHICLE_DEPARTED, {}),
        ):
            log.record(Event.make(kind, c, bay_id="A", visit_id=f"v{n}", data=data))

    log = ViolationLog(tmp_path / "evidence.db", clock)
    visit(log, clock, 0)
    assert log.unname(30) == 0
    log.close()
    clock.advance(DAY)
    boot = _boot(clock)
    log = ViolationLog(tmp_path / "evidence.db", boot)
    visit(log, boot, 1)  # before NTP: stamped 40 days on
    assert log.unname(30) == 0
    boot.advance(600)
    _ntp_syncs(boot)
    visit(log, boot, 2)
    assert log.unname(30) == 0
    log.close()
    boot.advance(DAY)
    log = ViolationLog(tmp_path / "evidence.db", _boot(boot))
    try:
        assert log.unname(30) == 0, "plates one and two days old taken out on a clock 40 days ahead"
    finally:
        log.close()


def test_photos_still_go_on_a_device_that_lost_ntp_for_good_after_one_sync(tmp_path):
    """Once a synchronised clock was kept, the records' stamps no longer moved the bound; on a device that then lost
    NTP for good (a firewall closed to it; its RTC right) and whose runs end before their second pass (a crash loop,
    a device powered under an hour a day: one run a day here), the bound never moved again and a photo past its 30
    days was never deleted (80 days in the probe with a run an hour; with 12 h off a day it went after 66 days, not
    31: review84). After ``NO_LONGER_SYNCING`` runs in a row that never kept a synchronised time the device is taken as
    no longer syncing: the records' way is back, as for a clock never seen synchronised."""
    clock = FakeClock(synced=True)
    first = EvidenceStore(tmp_path, clock, max_age_days=30)
    old = first.save("A", "v0", "vehicle_identified", JPEG, JPEG[:300], "京AD12345", {})
    first.enforce_retention()
    first.close()
    for day in range(1, 41):
        clock.advance(DAY)
        boot = FakeClock(clock.now(), monotonic_start=5.0, synced=False)  # NTP never again
        store = EvidenceStore(tmp_path, boot, max_age_days=30)
        store.enforce_retention()
        kept = store.get(old) is not None
        store.save("A", f"v{day}", "vehicle_identified", JPEG, JPEG[:300], "京AD12346", {})
        store.close()
        assert kept or day > 30, f"deleted on day {day}"
        if not kept:
            break
    assert not kept, "a photo 40 days old still kept"
