"""A ``site.timezone`` corrected between runs must not step the retained daily summary back a day: moved west
(Asia/Shanghai to UTC), the new zone's yesterday is for some hours the day before the one already retained."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.health import HealthFigures
from edge_agent.events.mqtt_link import build_mqtt
from edge_agent.evidence.violations import ViolationLog
from edge_agent.stats.daily import LAST_FILE, DailyStats
from tests.events.conftest import broker  # noqa: F401 - the fixture
from tests.events.helpers import BAYS, RecordingControl, Subscriber, make_config
from tests.stats.helpers import Story
from tests.stats.test_daily_hold import Link

SH, UTC = ZoneInfo("Asia/Shanghai"), ZoneInfo("UTC")


@pytest.fixture
def days(tmp_path):
    """A visit at noon UTC on each of 28 Feb … 3 Mar 2026; the clock at 18:30 UTC on the 3rd (02:30 on the 4th in
    Shanghai)."""
    clock = FakeClock(datetime(2026, 2, 27, 0, 0, tzinfo=timezone.utc))
    log = ViolationLog(tmp_path / "data" / "evidence" / "evidence.db", clock)
    story = Story(log, clock)
    for month, day in ((2, 28), (3, 1), (3, 2), (3, 3)):
        story.visit("B1", datetime(2026, month, day, 12, tzinfo=timezone.utc),
                    datetime(2026, month, day, 13, tzinfo=timezone.utc), nev=True)
    story.at(datetime(2026, 3, 3, 18, 30, tzinfo=timezone.utc))
    yield log, clock
    log.close()


@pytest.mark.broker
def test_a_zone_moved_west_does_not_replace_the_retained_day_with_an_older_one(broker, days, tmp_path):  # noqa: F811
    log, clock = days
    cfg = make_config(broker.url(), tmp_path / "data")
    retained = []
    watcher = Subscriber(broker.port, ["edge/s1/dev1/stats/daily"]).start()
    for tz in (SH, UTC):  # the operator corrects the zone and restarts
        link = build_mqtt(cfg, EventBus(), RecordingControl(), clock, lambda: HealthFigures())
        daily = DailyStats(link, log.db_path, BAYS, tz, clock, "dev1")
        link.start()
        try:
            if daily.check() is not None:  # on the broker before this run ends
                watcher.wait_for("edge/s1/dev1/stats/daily", lambda m, tz=tz: m.json()["tz"] == str(tz))
        finally:
            link.stop()
        backend = Subscriber(broker.port, ["edge/s1/dev1/stats/daily"]).start()  # connects later: the retained one
        try:
            doc = backend.wait_for("edge/s1/dev1/stats/daily").json()
        finally:
            backend.stop()
        retained.append((doc["day"], doc["tz"]))
    watcher.stop()
    # was: ("2026-03-02", "UTC") replaced the 3rd for six hours, until midnight UTC
    assert retained == [("2026-03-03", "Asia/Shanghai"), ("2026-03-03", "Asia/Shanghai")]
    assert daily.held is not None and "site.timezone changed" in daily.held[1]


def test_the_new_zone_goes_out_once_its_yesterday_reaches_the_retained_day(days):
    log, clock = days
    link = Link()
    assert DailyStats(link, log.db_path, BAYS, SH, clock, "dev1").check().isoformat() == "2026-03-03"
    after = DailyStats(link, log.db_path, BAYS, UTC, clock, "dev1")
    assert after.check() is None and len(link.sent) == 1  # was: 2026-03-02 (UTC) sent after 2026-03-03
    clock.advance(5.5 * 3600 - 60)
    assert after.check() is None  # 23:59 UTC: still the 2nd
    clock.advance(60)
    assert after.check().isoformat() == "2026-03-03" and link.sent[-1]["tz"] == "UTC"  # the same day, right zone
    assert (log.db_path.parent / LAST_FILE).read_text() == "2026-03-03 UTC\n"


def test_a_zone_moved_east_and_the_same_zone_are_not_held(days):
    log, clock = days
    link = Link()
    assert DailyStats(link, log.db_path, BAYS, UTC, clock, "dev1").check().isoformat() == "2026-03-02"
    assert DailyStats(link, log.db_path, BAYS, SH, clock, "dev1").check().isoformat() == "2026-03-03"  # forward
    # a clock that ran ahead, corrected, in the same zone: the right day replaces what it sent, as before
    ahead = FakeClock(datetime(2026, 3, 4, 18, 30, tzinfo=timezone.utc))
    assert DailyStats(link, log.db_path, BAYS, SH, ahead, "dev1").check().isoformat() == "2026-03-04"
    assert DailyStats(link, log.db_path, BAYS, SH, clock, "dev1").check().isoformat() == "2026-03-03"


@pytest.mark.parametrize("content", ["", "garbage", "2026-13-40 UTC", "\xff\xfe", "2026-03-05 Asia/Shanghai extra"])
def test_an_unreadable_record_holds_nothing(days, content):
    log, clock = days
    (log.db_path.parent / LAST_FILE).write_bytes(content.encode("latin-1"))
    assert DailyStats(Link(), log.db_path, BAYS, UTC, clock, "dev1").check().isoformat() == "2026-03-02"


def test_a_fifo_at_the_record_holds_nothing_and_is_not_waited_on(days):
    """The data folder may be written by others: a FIFO planted at the record's name held ``run``'s start (this
    constructor) for ever."""
    import os

    from tests.fifo_reads import without_waiting

    log, clock = days
    fifo = log.db_path.parent / LAST_FILE
    os.mkfifo(fifo)
    daily = without_waiting(lambda: DailyStats(Link(), log.db_path, BAYS, UTC, clock, "dev1"), fifo)
    assert daily.last is None and daily.check().isoformat() == "2026-03-02"
