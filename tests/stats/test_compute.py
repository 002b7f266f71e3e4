"""Statistics from events stored in the real violation log: days in the site's zone, midnight,
restarts, charging, kinds, violations, dwell, the hour × weekday map."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock
from edge_agent.evidence.violations import ViolationLog
from edge_agent.stats.source import query
from tests.stats.helpers import Story

SH = ZoneInfo("Asia/Shanghai")


def local(d: int, h: int, m: int = 0) -> datetime:
    return datetime(2026, 3, d, h, m, tzinfo=SH)


@pytest.fixture
def story(tmp_path):
    clock = FakeClock(datetime(2026, 2, 25, tzinfo=timezone.utc))
    log = ViolationLog(tmp_path / "evidence.db", clock)
    yield Story(log, clock)
    log.close()


def figures(story, start: date, end: date, bays=("A", "B"), now: datetime | None = None):
    now = now or datetime(2026, 4, 1, tzinfo=timezone.utc)
    s = query(story.log.db_path, list(bays), start, end, SH, now.timestamp())
    return s, {(r.day, r.bay): r for r in s.rows}


def test_a_visit_over_local_midnight_counts_on_both_days(story):
    # 23:00 on the 2nd to 01:30 on the 3rd, Shanghai time (15:00 to 17:30 UTC: one UTC day)
    story.visit("A", local(2, 23), local(3, 1, 30), nev=True)
    s, by = figures(story, date(2026, 3, 2), date(2026, 3, 3))
    assert by[("2026-03-02", "A")].occupied_s == 3600 and by[("2026-03-03", "A")].occupied_s == 5400
    assert by[("2026-03-02", "A")].visits_nev == 1 and by[("2026-03-03", "A")].visits_nev == 0  # by arrival day
    assert by[("2026-03-02", "A")].median_dwell_s == 9000
    assert by[("2026-03-02", "B")].occupied_s == 0 and by[("2026-03-02", "A")].day_s == 86400
    assert s.heat[local(2, 23).weekday()][23] == 0.5  # one bay of two, the one such hour in the window


def test_kinds_violations_fuel_minutes_and_median_dwell(story):
    story.visit("A", local(2, 8), local(2, 8, 20), nev=True)
    story.visit("A", local(2, 9), local(2, 9, 40), nev=True)
    story.visit("A", local(2, 10), local(2, 11), nev=False, violation=(local(2, 10, 2), local(2, 11)))
    story.visit("A", local(2, 12), local(2, 12, 40), nev=None, violation=(local(2, 12, 5), local(2, 12, 40)))
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    a = by[("2026-03-02", "A")]
    assert (a.visits_nev, a.visits_fuel, a.visits_unidentified) == (2, 1, 1)
    assert a.violations == 2 and a.violation_s == 58 * 60 + 35 * 60
    assert a.fuel_on_bay_s == 3600 and a.occupied_s == (20 + 40 + 60 + 40) * 60
    assert a.median_dwell_s == 40 * 60
    assert a.charging_s is None and a.parked_not_charging_s is None  # no charger status fed


def test_charging_is_charger_status_while_parked(story):
    story.at(local(2, 7)).emit("charger_status", "A", status="idle", previous=None)
    vid = story.visit("A", local(2, 8), None, nev=True)
    story.at(local(2, 8, 10)).emit("charger_status", "A", status="charging", previous="idle")
    story.at(local(2, 9, 10)).emit("charger_status", "A", status="finished", previous="charging")
    story.at(local(2, 9, 30)).emit("vehicle_departed", "A", vid, stayed_s=5400)
    story.at(local(2, 10)).emit("charger_status", "A", status="charging", previous="finished")  # bay empty: 0
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    a = by[("2026-03-02", "A")]
    assert a.charging_s == 3600 and a.parked_not_charging_s == 1800 and a.occupied_s == 5400
    assert by[("2026-03-02", "B")].charging_s is None


def test_a_visit_left_open_by_a_restart_ends_at_the_next_arrival(story):
    story.at(local(2, 8)).emit("vehicle_arrived", "A", "lost-visit")  # the agent stopped, never departed
    story.visit("A", local(2, 10), local(2, 11), nev=True)
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    assert by[("2026-03-02", "A")].occupied_s == 3 * 3600
    assert by[("2026-03-02", "A")].visits_unidentified == 1 and by[("2026-03-02", "A")].median_dwell_s == 3600


def test_today_counts_until_now_and_a_parked_car_until_now(story):
    story.visit("A", local(2, 8), None, nev=True)
    now = local(2, 12).astimezone(timezone.utc)
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2), now=now)
    a = by[("2026-03-02", "A")]
    assert a.day_s == 12 * 3600 and a.occupied_s == 4 * 3600 and a.occupied_share == pytest.approx(1 / 3)


def test_the_same_events_recorded_twice_count_once_and_an_empty_store_is_zeros(story, tmp_path):
    vid = story.visit("A", local(2, 8), local(2, 9), nev=True)
    for ev in story.log.timeline(vid):
        story.log.record(ev)  # a redelivery: INSERT OR IGNORE by event_id
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    assert by[("2026-03-02", "A")].occupied_s == 3600 and by[("2026-03-02", "A")].visits_nev == 1
    empty = query(tmp_path / "none.db", ["A"], date(2026, 3, 2), date(2026, 3, 2), SH, local(3, 0).timestamp())
    assert [r.occupied_s for r in empty.rows] == [0.0]
    with pytest.raises(ValueError, match="before"):
        query(tmp_path / "none.db", ["A"], date(2026, 3, 2), date(2026, 3, 1), SH, 0)


def test_heat_map_by_weekday_and_hour(story):
    for d in (2, 9):  # two Mondays, 08:00-10:00 on A
        story.visit("A", local(d, 8), local(d, 10), nev=True)
    s, _ = figures(story, date(2026, 3, 2), date(2026, 3, 15), bays=("A",))
    assert local(2, 8).weekday() == 0
    assert s.heat[0][8] == 1.0 and s.heat[0][9] == 1.0 and s.heat[0][10] == 0.0 and s.heat[1][8] == 0.0
    assert sum(v for row in s.heat for v in row) == 4.0 / 2  # 2 hours × 2 Mondays over 2 Monday-hours each


def test_the_window_is_reported_as_asked_even_with_an_open_violation(story):
    story.visit("A", local(2, 8), None, nev=False, violation=None)
    story.at(local(2, 8, 2)).emit("violation_started", "A", None, reason="fuel_vehicle", parked_s=1.0)
    s, by = figures(story, date(2026, 3, 1), date(2026, 3, 2), now=local(2, 9))
    assert (s.start, s.end) == (date(2026, 3, 1), date(2026, 3, 2))
    assert by[("2026-03-02", "A")].violation_s == 58 * 60 and by[("2026-03-02", "A")].violations == 1


@pytest.mark.parametrize("step_s", [-2 * 3600, 5 * 86400])
def test_a_clock_step_during_a_visit_counts_the_real_stay(story, step_s):
    # NTP steps the wall clock mid-visit (back 2 h; forward 5 days, as after a boot without RTC):
    # the stay is 50 min and the violation 20 min by the monotonic durations the events carry
    vid = story.visit("A", local(2, 9), None, nev=False)
    story.at(local(2, 9, 30)).emit("violation_started", "A", vid, reason="fuel_vehicle", parked_s=1800.0)
    story.clock.step_wall(step_s)
    story.clock.advance(1200)
    story.emit("violation_ended", "A", vid, reason="departed", duration_s=1200.0)
    story.emit("vehicle_departed", "A", vid, stayed_s=3000.0)
    s, _ = figures(story, date(2026, 3, 1), date(2026, 3, 10))
    a = [r for r in s.rows if r.bay == "A"]
    # before: back 2 h sorted the departure first and the visit ran to the window's end (≈ 190 h);
    # forward 5 days made it 5 days long
    assert sum(r.occupied_s for r in a) == 3000 and sum(r.violation_s for r in a) == 1200
    assert [r.median_dwell_s for r in a if r.median_dwell_s is not None] == [3000]
    assert sum(r.violations for r in a) == 1 and sum(r.visits_fuel for r in a) == 1


def test_a_stored_duration_that_is_not_a_number_is_ignored(story):
    vid = story.visit("A", local(2, 9), None, nev=True)
    story.at(local(2, 10)).emit("vehicle_departed", "A", vid, stayed_s="soon")
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    assert by[("2026-03-02", "A")].occupied_s == 3600


def test_a_day_counts_the_same_whatever_window_is_asked(story):
    """The retained daily summary asks for one day, the page for 30, ``stats`` for what is typed: a day's
    figures must not depend on it. A fuel car left four days (over a holiday) read as a free bay from
    its third day on, when asked alone (its arrival was more than the 2-day margin before), and a visit
    over midnight dropped out of its arrival day's median dwell when that day ended the window."""
    story.visit("A", local(2, 10), local(2, 11), nev=True)
    story.visit("A", local(2, 20), local(3, 8), nev=True)  # overnight
    b = Story(story.log, FakeClock(datetime(2026, 2, 25, tzinfo=timezone.utc)))  # bay B's own story
    b.visit("B", local(2, 9), local(6, 9), nev=False, violation=(local(2, 9, 5), local(6, 9)))
    b.at(local(6, 23, 59)).emit("vehicle_arrived", "B", "late")
    b.at(local(7, 0, 1)).emit("vehicle_identified", "B", "late", plate="粤BD12345", nev=True, colour="green")
    b.at(local(7, 1)).emit("vehicle_departed", "B", "late", stayed_s=3660.0)
    _, whole = figures(story, date(2026, 3, 1), date(2026, 3, 8))
    for d in range(1, 9):
        day = date(2026, 3, d)
        _, alone = figures(story, day, day)
        for bay in ("A", "B"):
            assert alone[(day.isoformat(), bay)] == whole[(day.isoformat(), bay)], (day, bay)
    b5 = whole[("2026-03-05", "B")]
    assert b5.occupied_s == b5.violation_s == b5.fuel_on_bay_s == 86400
    assert whole[("2026-03-02", "A")].median_dwell_s == (3600 + 12 * 3600) / 2
    assert whole[("2026-03-06", "B")].visits_nev == 1


def test_the_heat_map_hours_are_the_site_clocks_even_with_a_half_hour_summer_time(tmp_path):
    """Lord Howe Island turns its clocks from 02:00 to 02:30 (4 October 2026). The map stepped whole hours
    from local midnight, so after the change each "hour" ran from :30 to :30 and a car parked 10:00-11:00
    showed as half of 09:00 and half of 10:00."""
    lh = ZoneInfo("Australia/Lord_Howe")
    clock = FakeClock(datetime(2026, 10, 1, tzinfo=timezone.utc))
    log = ViolationLog(tmp_path / "evidence.db", clock)
    Story(log, clock).visit("A", datetime(2026, 10, 4, 10, tzinfo=lh), datetime(2026, 10, 4, 11, tzinfo=lh), nev=True)
    s = query(log.db_path, ["A"], date(2026, 10, 3), date(2026, 10, 5), lh, datetime(2026, 11, 1).timestamp())
    sunday = s.heat[date(2026, 10, 4).weekday()]
    assert (sunday[9], sunday[10], sunday[11]) == (0.0, 1.0, 0.0)
    log.close()


def test_days_before_a_chargers_first_report_have_no_charging_figures_whatever_the_window(story):
    """A charger hooked up (or first fed) on the 3rd: the 2nd's split is unknown. Asked alone (the daily
    summary) the 2nd said null; asked in a week (the page) it said 0 h charging, 2 h parked not charging,
    and the window's per-bay "parked, not charging" counted the 2nd's hours too."""
    story.visit("A", local(2, 8), local(2, 10), nev=True)
    story.at(local(3, 12)).emit("charger_status", "A", status="idle", previous=None)
    story.visit("A", local(3, 13), local(3, 14), nev=True)
    s, whole = figures(story, date(2026, 3, 1), date(2026, 3, 7))
    _, alone = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    assert whole[("2026-03-02", "A")] == alone[("2026-03-02", "A")]
    assert whole[("2026-03-02", "A")].charging_s is None and whole[("2026-03-02", "A")].parked_not_charging_s is None
    assert whole[("2026-03-03", "A")].charging_s == 0 and whole[("2026-03-03", "A")].parked_not_charging_s == 3600
    a = s.per_bay()[0]
    assert (a["occupied_s"], a["charging_s"], a["parked_not_charging_s"]) == (3 * 3600, 0, 3600)


def test_a_violation_a_reviewer_dismissed_is_not_counted(story):
    """A property manager dismisses a false alarm (an NEV plate misread): the violation list shows it
    dismissed, the statistics kept counting it (a day with one real and one false violation said 2)."""
    story.visit("A", local(2, 8), local(2, 9), nev=False, violation=(local(2, 8, 5), local(2, 9)))
    story.visit("A", local(2, 10), local(2, 11), nev=False, violation=(local(2, 10, 5), local(2, 10, 35)))
    first, second = story.log.get(1), story.log.get(2)
    assert first and second and first.started_at < second.started_at
    story.log.decide(first.id, "dismissed", "mgr", "misread: a green plate")
    story.log.decide(second.id, "confirmed", "mgr")
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    a = by[("2026-03-02", "A")]
    assert (a.violations, a.violation_s) == (1, 30 * 60)
    assert a.fuel_on_bay_s == 2 * 3600  # what the camera saw is not a decision
    story.log.decide(first.id, "open", "mgr", seen="dismissed")  # reopened: counted again
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    assert (by[("2026-03-02", "A")].violations, by[("2026-03-02", "A")].violation_s) == (2, 85 * 60)


def test_visits_overlapping_after_a_wall_clock_step_back_count_the_bay_once(story):
    """A clock that ran 50 min ahead is stepped back between two visits: the second's stamps fall inside
    the first. The same minutes counted twice: hour 10 was 175 % occupied on the heat map and the
    charger charged longer than the bay was occupied."""
    story.at(local(2, 9)).emit("charger_status", "A", status="charging", previous=None)
    story.visit("A", local(2, 10), local(2, 11), nev=False, violation=(local(2, 10, 5), local(2, 11)))
    story.clock.step_wall(-50 * 60)  # stamps now read 10:10 at 11:00
    story.clock.advance(5 * 60)
    vid = story.visit("A", story.clock.now(), None, nev=False)  # 10:15 by the stamps
    story.at(local(2, 10, 20)).emit("violation_started", "A", vid, reason="fuel_vehicle", parked_s=300.0)
    story.at(local(2, 11, 15)).emit("violation_ended", "A", vid, reason="departed", duration_s=3300.0)
    story.emit("vehicle_departed", "A", vid, stayed_s=3600.0)
    s, by = figures(story, date(2026, 3, 2), date(2026, 3, 2), bays=("A",))
    a = by[("2026-03-02", "A")]
    assert a.occupied_s == a.fuel_on_bay_s == a.charging_s == 75 * 60  # 10:00-11:15 as stamped, once
    assert a.violation_s == 70 * 60 and a.violations == 2 and a.visits_fuel == 2
    monday = s.heat[local(2, 0).weekday()]
    assert (monday[9], monday[10], monday[11]) == (0.0, 1.0, 0.25)
    assert all(v is None or 0 <= v <= 1 for row in s.heat for v in row)


def test_a_car_parked_before_ntp_set_the_clock_counts_from_when_it_came(story):
    """A Pi without RTC boots at 1970 with a fuel car in the bay: its arrival is stamped 1970, NTP then sets
    the clock and its violation starts. The bay read free all day (the arrival, far before the window,
    was never read: the bay had older visits) while its violation ran; after the car left still free."""
    story.visit("A", local(1, 10), local(1, 11), nev=True)  # more than the 2-day margin before the 5th
    story.clock.step_wall(datetime(1970, 1, 1, 0, 1, tzinfo=timezone.utc).timestamp() - story.clock.now().timestamp())
    story.emit("vehicle_arrived", "A", "boot", parked_at_start=True)
    story.emit("vehicle_identified", "A", "boot", plate="粤B12345", nev=False, colour="blue")
    story.clock.advance(30)
    story.clock.step_wall(local(5, 8).timestamp() + 30 - story.clock.now().timestamp())  # NTP
    story.at(local(5, 8, 5)).emit("violation_started", "A", "boot", reason="fuel_vehicle", parked_s=300.0)
    _, by = figures(story, date(2026, 3, 5), date(2026, 3, 5), bays=("A",), now=local(5, 20))
    a = by[("2026-03-05", "A")]
    assert a.occupied_s == a.fuel_on_bay_s == 12 * 3600 and a.violation_s == 12 * 3600 - 300
    assert (a.visits_fuel, a.violations) == (1, 1)
    story.at(local(5, 12)).emit("violation_ended", "A", "boot", reason="departed", duration_s=3 * 3600 + 55 * 60.0)
    story.emit("vehicle_departed", "A", "boot", stayed_s=4 * 3600.0)
    for start, end in ((date(2026, 3, 5), date(2026, 3, 5)), (date(2026, 3, 1), date(2026, 3, 7))):
        _, by = figures(story, start, end, bays=("A",))
        a = by[("2026-03-05", "A")]
        assert a.occupied_s == a.fuel_on_bay_s == 4 * 3600 and a.violation_s == 3 * 3600 + 55 * 60
        assert (a.visits_fuel, a.violations, a.median_dwell_s) == (1, 1, 4 * 3600)
    assert by[("2026-03-01", "A")].occupied_s == 3600  # the 1970 stamp is nobody's 1st of March


def _power_cut_1030_to_14(story, start):  # noqa: ANN001, ANN202
    """A run from ``start`` (bay A: an NEV 9–10 on the 2nd, a car arriving at 10) whose power goes after its
    last alive mark at 10:30, and the next run starting at 14:00: its ledger and the departures it closed."""
    from edge_agent.evidence.runs import RunLedger

    story.at(start)
    first = RunLedger(story.log.db_path, story.clock)
    assert first.begin() == []
    story.visit("A", local(2, 9), local(2, 10), nev=True)
    story.at(local(2, 10)).emit("vehicle_arrived", "A", "cut-off")
    story.at(local(2, 10, 30))
    first.mark_alive()  # then the power goes
    first.close()
    story.at(local(2, 14))
    second = RunLedger(story.log.db_path, story.clock)
    return second, second.begin()


def test_a_stay_a_power_cut_ended_is_not_in_the_dwell_median(story):
    """The docs: the median dwell is of visits "seen leaving". A power cut at 10:30 (the run ledger ends the
    visit there at the next start, reason agent_stopped) made a 30-minute stay of a car that may have stayed
    all day: the day's median fell from 60 to 45 min."""
    after, (departed,) = _power_cut_1030_to_14(story, local(2, 9))
    assert departed.data["reason"] == "agent_stopped"
    story.log.record(departed)
    after.close()
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    a = by[("2026-03-02", "A")]
    assert a.occupied_s == 90 * 60 and a.visits_unidentified == 1  # counted while it was known to be there
    assert a.median_dwell_s == 3600


def test_the_hours_the_agent_was_not_running_are_not_free(story):
    """A power cut from 10:30 to 14:00 (the run ledger's last alive mark, the next start): the bay read free
    for those 3.5 h on the page's per-bay chart (free = window - occupied). They are unknown now."""
    second, departures = _power_cut_1030_to_14(story, local(1, 23))
    for ev in departures:
        story.log.record(ev)
    story.visit("A", local(2, 15), local(2, 16), nev=True)
    story.at(local(3, 0, 30))
    second.mark_alive()
    second.close()
    s, by = figures(story, date(2026, 3, 2), date(2026, 3, 3))
    a, b = by[("2026-03-02", "A")], by[("2026-03-02", "B")]
    assert a.occupied_s == 150 * 60 and a.unknown_s == b.unknown_s == 3.5 * 3600
    assert by[("2026-03-03", "A")].unknown_s == 0  # after the last run's last mark: the current run, not a gap
    bay_a = s.per_bay()[0]
    assert bay_a["unknown_s"] == 3.5 * 3600 and bay_a["free_s"] == 2 * 86400 - 150 * 60 - 3.5 * 3600


def test_the_heat_map_leaves_out_the_hours_the_agent_was_not_running(story):
    """Off from Monday 10:30 to 14:00 (between two runs): those hours read as free on the heat map, so a
    bay busy whenever it was watched showed 50 % at 10:00 and 0 % from 11:00 to 13:00."""
    from edge_agent.evidence.runs import RunLedger

    story.at(local(2, 0))
    first = RunLedger(story.log.db_path, story.clock)
    first.begin()
    story.visit("A", local(2, 10), local(2, 10, 30), nev=True)
    first.mark_alive()  # 10:30, then off
    first.close()
    story.at(local(2, 14))
    RunLedger(story.log.db_path, story.clock).begin()
    story.visit("A", local(2, 14), local(2, 15), nev=True)
    s, _ = figures(story, date(2026, 3, 2), date(2026, 3, 2), bays=("A",))
    monday = s.heat[local(2, 0).weekday()]
    assert (monday[10], monday[11], monday[13], monday[14], monday[15]) == (1.0, None, None, 1.0, 0.0)


def test_a_run_ledger_it_cannot_read_leaves_the_figures_without_unknown_time(story):
    """A damaged ``runs`` table (here: another table under that name; the agent logs it and starts) must not
    take the statistics page down with it."""
    import sqlite3

    story.visit("A", local(2, 9), local(2, 10), nev=True)
    with sqlite3.connect(story.log.db_path) as con:
        con.execute("CREATE TABLE runs (something_else TEXT)")
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 2))
    assert (by[("2026-03-02", "A")].occupied_s, by[("2026-03-02", "A")].unknown_s) == (3600, 0)


def test_pruning_the_run_ledger_keeps_the_gap_that_reaches_into_the_history(story):
    """Off from the 1st to the 8th (a holiday). Once the first run's last mark is older than history_days the
    ledger forgot that run, and with it the start of the gap: the days of it still within history_days (their
    events kept) turned from unknown into free on the statistics page, days after they were first shown."""
    from edge_agent.evidence.runs import RunLedger

    story.at(local(1, 0))
    first = RunLedger(story.log.db_path, story.clock)
    first.begin()
    story.visit("A", local(1, 9), local(1, 10), nev=True)
    first.mark_alive()  # the 1st, 10:00; then off for a week
    first.close()
    story.at(local(8, 0))
    second = RunLedger(story.log.db_path, story.clock)
    second.begin()
    story.visit("A", local(8, 9), local(8, 10), nev=True)
    story.at(local(12, 0))
    second.mark_alive()
    before = {d: by[(f"2026-03-0{d}", "A")].unknown_s for d in (4, 5)
              for by in [figures(story, date(2026, 3, 4), date(2026, 3, 5))[1]]}
    assert before == {4: 86400, 5: 86400}
    second.prune(8)  # history_days 8: events from the 4th on are kept, and the figures of their days with them
    _, by = figures(story, date(2026, 3, 4), date(2026, 3, 5))
    assert {d: by[(f"2026-03-0{d}", "A")].unknown_s for d in (4, 5)} == before
    story.at(local(17, 0))  # the whole gap older than history_days: the first run may go now
    assert second.prune(8) == 1
    second.close()


def test_charging_time_is_the_same_whether_charger_status_names_the_visit_or_not(story):
    """``charger_status`` carries the visit in progress (leftovers25; null before). Statistics read it by bay and
    time, but a visit cut by the window is read by visit id, from before the window and after it: a report named
    by such a visit comes back there too, and must not change any day's figures. Bay A's reports name the visit,
    bay B's (the same story) do not."""
    story.at(local(1, 9))
    for bay in ("A", "B"):
        story.emit("charger_status", bay, None, status="idle", previous=None)
    visits = {bay: story.visit(bay, local(1, 22), None, nev=True) for bay in ("A", "B")}
    for when, status, previous in ((local(1, 22, 5), "charging", "idle"), (local(2, 1), "finished", "charging"),
                                   (local(2, 3), "charging", "finished"), (local(3, 2), "idle", "charging")):
        story.at(when)
        for bay in ("A", "B"):
            story.emit("charger_status", bay, visits[bay] if bay == "A" else None, status=status, previous=previous)
    story.at(local(3, 4))
    for bay in ("A", "B"):
        story.emit("vehicle_departed", bay, visits[bay], stayed_s=(local(3, 4) - local(1, 22)).total_seconds())
    for start, end in ((1, 1), (2, 2), (3, 3), (2, 3), (1, 4)):
        _, rows = figures(story, date(2026, 3, start), date(2026, 3, end), now=local(5, 0))
        for day in range(start, end + 1):
            a, b = rows[(f"2026-03-0{day}", "A")], rows[(f"2026-03-0{day}", "B")]
            assert (a.occupied_s, a.charging_s, a.parked_not_charging_s) == \
                (b.occupied_s, b.charging_s, b.parked_not_charging_s), (start, end, day)
    _, rows = figures(story, date(2026, 3, 2), date(2026, 3, 2), now=local(5, 0))
    assert rows[("2026-03-02", "A")].charging_s == 22 * 3600  # 00:00-01:00 and 03:00-24:00


def test_the_days_before_the_device_was_installed_are_not_free(story):
    """A device installed on the 5th at 10:00 (its first run). The page's default 30 days reached back before it,
    and the bay chart showed bay B free for four and a half days nobody watched (newuser34): a manager read an
    unused bay. Before the first run those hours are unknown, on the heat map too."""
    from edge_agent.evidence.runs import RunLedger

    story.at(local(5, 10))
    run = RunLedger(story.log.db_path, story.clock)
    run.begin()
    story.visit("A", local(5, 11), local(5, 12), nev=True)
    story.at(local(6, 0))
    run.mark_alive()
    run.close()
    s, by = figures(story, date(2026, 3, 1), date(2026, 3, 5), now=local(6, 0))
    assert [by[(f"2026-03-0{d}", "B")].unknown_s for d in range(1, 6)] == [86400] * 4 + [10 * 3600]
    bay_b = s.per_bay()[1]
    assert (bay_b["unknown_s"], bay_b["free_s"]) == (4 * 86400 + 10 * 3600, 14 * 3600)
    thursday = s.heat[3]  # the 5th is a Thursday
    assert thursday[9] is None and thursday[10] == 0.0 and thursday[11] == 0.5  # A parked 11-12, B free
    assert all(v is None for day in (0, 1, 2, 6) for v in s.heat[day])  # the 1st to the 4th: not watched


def test_a_store_from_before_the_run_ledger_counts_from_its_first_event(story):
    """Upgraded: an older release recorded the 3rd's visit, the ledger's first run began on the 4th."""
    from edge_agent.evidence.runs import RunLedger

    story.visit("A", local(3, 9), local(3, 10), nev=True)
    story.at(local(4, 8))
    run = RunLedger(story.log.db_path, story.clock)
    run.begin()
    story.at(local(5, 0))
    run.mark_alive()
    run.close()
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 4), now=local(5, 0))
    assert [by[(f"2026-03-0{d}", "B")].unknown_s for d in (2, 3, 4)] == [86400, 9 * 3600, 0]


@pytest.mark.parametrize("put_off", [False, True])
def test_a_restart_stamped_before_the_clock_synced_keeps_the_days_the_device_was_off(story, put_off):
    """A Pi has no RTC: after a power cut it boots at the time fake-hwclock saved (up to an hour before the cut) and
    the run's start is stamped before NTP sets the clock. That start fell before the previous run's last mark, the
    two runs merged into one and the 36 hours the device was off counted as watched and free (probe review71). The
    ledger's marks now carry the start as the synced clock places it (now less the run's monotonic age)."""
    from edge_agent.evidence.runs import RunLedger

    story.at(local(2, 0))
    run = RunLedger(story.log.db_path, story.clock)
    run.begin()
    story.at(local(3, 12))
    run.mark_alive()
    run.close()
    story.clock.step_wall(-50 * 60)  # off from the 3rd 12:00; boots on the 5th at 00:00 at the saved 11:10
    run = RunLedger(story.log.db_path, story.clock)
    started, mono = story.clock.now(), story.clock.monotonic()
    if not put_off:
        run.begin()
    story.clock.step_wall((local(5, 0) - local(3, 11, 10)).total_seconds())  # NTP, 0 s after the start
    if put_off:  # another program's lock kept the start's record out until after the step
        run.begin(started, started_mono=mono)
    story.at(local(6, 0))
    run.mark_alive()
    run.close()
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 5), now=local(6, 0))
    assert [by[(f"2026-03-0{d}", "B")].unknown_s for d in (2, 3, 4, 5)] == [0, 12 * 3600, 86400, 0]


def test_a_ledger_from_before_the_start_column_takes_it_at_the_next_start(story):
    """0.26.0's ``runs`` table has no ``started_epoch``: its rows read as before (``started_at``), and the first
    start of this version adds the column (under the start's write lock) and places its own run by it."""
    import sqlite3

    from edge_agent.evidence.runs import RunLedger

    with sqlite3.connect(story.log.db_path) as db:  # 0.26.0's schema and one run of it, 2nd 00:00 to 3rd 12:00
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL,"
                   " alive_at TEXT NOT NULL, alive_epoch REAL NOT NULL)")
        db.execute("INSERT INTO runs (started_at, alive_at, alive_epoch) VALUES (?,?,?)",
                   (local(2, 0).isoformat(), local(3, 12).isoformat(), local(3, 12).timestamp()))
    story.at(local(3, 11, 10))  # the restart, stamped at the saved time
    run = RunLedger(story.log.db_path, story.clock)
    run.begin()
    story.clock.step_wall((local(5, 0) - local(3, 11, 10)).total_seconds())
    story.at(local(6, 0))
    run.mark_alive()
    run.close()
    _, by = figures(story, date(2026, 3, 2), date(2026, 3, 5), now=local(6, 0))
    assert [by[(f"2026-03-0{d}", "B")].unknown_s for d in (2, 3, 4, 5)] == [0, 12 * 3600, 86400, 0]
