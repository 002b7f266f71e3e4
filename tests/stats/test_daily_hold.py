"""The retained daily summary is held back while "yesterday" cannot be trusted (a Pi without RTC boots
at 1970 or its last saved time), and goes out for the right day once NTP has set the clock."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock
from edge_agent.evidence.violations import ViolationLog
from edge_agent.stats.daily import UNSYNCED_HOLD_S, DailyStats
from edge_agent.timesync import EARLIEST_DAY
from tests.stats.helpers import Story

SH = ZoneInfo("Asia/Shanghai")
BAYS = ["B1", "B2"]


class Link:
    """What DailyStats needs of the MQTT link, recording."""

    class topics:  # noqa: N801 - the link's attribute
        stats_daily = "edge/s1/dev1/stats/daily"

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def publish_retained(self, topic: str, doc: dict) -> None:
        self.sent.append(doc)


@pytest.fixture
def recorded(tmp_path):
    """A log with a visit on 2 March 2026 (site time) and a clock at 06:00 on the 3rd."""
    clock = FakeClock(datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc))
    log = ViolationLog(tmp_path / "evidence.db", clock)
    Story(log, clock).visit("B1", datetime(2026, 3, 2, 9, 0, tzinfo=SH), datetime(2026, 3, 2, 10, 0, tzinfo=SH),
                            nev=True)
    clock.advance((datetime(2026, 3, 3, 6, 0, tzinfo=SH) - clock.now()).total_seconds())
    yield log, clock
    log.close()


def test_an_unsynchronised_clock_at_1970_publishes_nothing_until_ntp_sets_it(recorded):
    log, real = recorded
    boot = FakeClock(datetime(1970, 1, 1, 0, 0, 40, tzinfo=timezone.utc), synced=False)
    link = Link()
    daily = DailyStats(link, log.db_path, BAYS, SH, boot, "dev1")
    assert daily.check() is None and link.sent == []  # was: a retained summary for 1969-12-31
    assert daily.held[1] == "the clock is not synchronised (NTP) yet"
    boot.advance(60)
    assert daily.check() is None and link.sent == []  # asked again every minute, still held
    boot.step_wall((real.now() - boot.now()).total_seconds())  # NTP steps the clock
    boot.set_synced(True)
    assert daily.check().isoformat() == "2026-03-02"  # caught up with the real yesterday
    assert link.sent[0]["day"] == "2026-03-02" and link.sent[0]["totals"]["visits"] == 1
    assert daily.held is None and daily.check() is None


def test_without_a_sync_answer_a_day_before_the_build_is_still_refused(recorded):
    log, _ = recorded
    link = Link()
    old = FakeClock(datetime(2000, 1, 1, 12, tzinfo=timezone.utc), synced=None)  # an RTC reset to 2000
    daily = DailyStats(link, log.db_path, BAYS, SH, old, "dev1")
    assert daily.check() is None and link.sent == []
    assert daily.held == (datetime(1999, 12, 31).date(), f"the clock reads before {EARLIEST_DAY}: never set")


def test_a_plausible_but_unsynchronised_day_waits_for_the_sync(recorded):
    log, clock = recorded
    link = Link()
    clock.set_synced(False)  # the last saved time (fake-hwclock): plausible, still not to be trusted
    daily = DailyStats(link, log.db_path, BAYS, SH, clock, "dev1")
    assert daily.check() is None and link.sent == []
    clock.set_synced(True)
    assert daily.check().isoformat() == "2026-03-02" and len(link.sent) == 1
    assert link.sent[0]["clock_synced"] is True


def test_a_site_without_a_time_server_sends_its_summary_after_an_hour_flagged(recorded):
    """A site LAN without internet, or a battery-backed RTC the kernel never counts as synchronised: NTP
    would have set the clock within a minute, so after UNSYNCED_HOLD_S the clock is the only one there is.
    Its days go out, flagged; a clock that was never set (1970) stays held however long it runs."""
    log, clock = recorded
    link = Link()
    clock.set_synced(False)
    daily = DailyStats(link, log.db_path, BAYS, SH, clock, "dev1")
    assert daily.check() is None
    clock.advance(UNSYNCED_HOLD_S - 61)
    assert daily.check() is None and link.sent == []
    clock.advance(61)
    assert daily.check().isoformat() == "2026-03-02"
    assert link.sent[0]["clock_synced"] is False and link.sent[0]["totals"]["visits"] == 1
    boot = FakeClock(datetime(1970, 1, 1, tzinfo=timezone.utc), synced=False)
    never = DailyStats(link, log.db_path, BAYS, SH, boot, "dev1")
    boot.advance(10 * UNSYNCED_HOLD_S)
    assert never.check() is None and len(link.sent) == 1


def test_no_summary_for_a_day_before_the_first_recorded_event(recorded):
    log, clock = recorded
    link = Link()
    before = FakeClock(datetime(2026, 3, 2, 6, 0, tzinfo=SH), synced=True)  # "yesterday" is 1 March
    daily = DailyStats(link, log.db_path, BAYS, SH, before, "dev1")
    assert daily.check() is None and link.sent == []  # was: an all-zero day the agent never saw
    assert daily.held[1] == "before the first recorded event (2026-03-02)"
    empty = DailyStats(link, log.db_path.parent / "none.db", BAYS, SH, clock, "dev1")
    assert empty.check() is None and empty.held[1] == "before the first recorded event (none yet)"
    assert DailyStats(link, log.db_path, BAYS, SH, clock, "dev1").check().isoformat() == "2026-03-02"


def test_a_held_day_is_logged_once(recorded, caplog):
    log, _ = recorded
    boot = FakeClock(datetime(1970, 1, 1, tzinfo=timezone.utc), synced=False)
    daily = DailyStats(Link(), log.db_path, BAYS, SH, boot, "dev1")
    with caplog.at_level("INFO", logger="edge_agent.stats.daily"):
        for _ in range(5):
            daily.check()
            boot.advance(60)
    assert len([r for r in caplog.records if "held back" in r.getMessage()]) == 1
