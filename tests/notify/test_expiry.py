"""A group robot's alerts do not outlive their use: after days of outage (or a robot key fixed a week
later) the group would get every alert of that time, each sending someone to a bay. An event older than
the sink's ``max_age_h`` (robots: 24 by default) when its turn comes moves to the dead letters unsent;
a webhook (a backend keeping the record) gets everything. A real loopback server; time is a FakeClock."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.notify.service import NotifyService
from tests.notify.helpers import config, drain, violation

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def dead_letters(tmp_path, sink: str) -> list[dict[str, object]]:
    with sqlite3.connect(tmp_path / "data" / "notify-dead" / f"{sink}.sqlite") as db:
        return [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbox ORDER BY seq")]


def test_after_three_days_down_the_group_gets_the_last_day_and_the_backend_everything(tmp_path, receiver,
                                                                                     monkeypatch):
    """Before: all 12 went to the group once it was back, the oldest 66 h late."""
    monkeypatch.setenv("ROBOT_KEY", "robot-key-0123456789")
    clock = FakeClock(START)
    cfg = config(tmp_path, [
        {"name": "group", "kind": "wecom", "url": receiver.url, "secret_env": "ROBOT_KEY", "max_backoff_s": 3600},
        {"name": "backend", "kind": "webhook", "url": receiver.url.replace("/hook", "/backend"),
         "events": ["violation_started"], "max_backoff_s": 3600}])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    group, backend = svc.open()
    receiver.mode = "fail"  # down from the start
    sent = []
    for i in range(12):  # one violation every 6 h for 3 days, the sinks trying all along
        ev = violation(clock, i=i)
        bus.publish(ev)
        sent.append(ev.event_id)
        for _ in range(6):
            for d in (group, backend):
                d.pump()
            clock.advance(3600)
    receiver.mode = "ok"
    drain(svc, clock)

    got = [eid for path, eid in receiver.unique if path == "/hook"]  # taken in, in order
    expired = [doc["event"]["event_id"] for doc in dead_letters(tmp_path, "group")]
    assert expired == sent[:len(expired)] and got == sent[len(expired):]  # nothing lost, order kept
    assert len(got) == 4  # the last day's: 18, 12, 6 and 0 h old when the robot came back
    assert all(doc["status"] is None and str(doc["reason"]).startswith("expired: ")
               for doc in dead_letters(tmp_path, "group"))
    assert group.counts.expired == 8 and svc.status()["group"]["last_dead"]["reason"].startswith("expired")
    assert [eid for path, eid in receiver.unique if path == "/backend"] == sent  # the backend: all


def test_an_age_the_clock_cannot_vouch_for_does_not_expire_an_alert(tmp_path, receiver, monkeypatch):
    """A Pi without RTC stamps its first events in 1970; NTP then sets the clock: those are not 56 years old."""
    monkeypatch.setenv("ROBOT_KEY", "robot-key-0123456789")
    clock = FakeClock(datetime(1970, 1, 1, 0, 1, tzinfo=timezone.utc))
    svc = NotifyService(config(tmp_path, [{"name": "group", "kind": "dingtalk", "url": receiver.url,
                                           "secret_env": "ROBOT_KEY"}]), EventBus(), clock)
    (d,) = svc.open()
    svc.bus.publish(violation(clock))
    clock.step_wall((START - clock.now()).total_seconds())
    drain(svc, clock)
    assert d.counts.delivered == 1 and d.counts.expired == 0


def test_an_alert_queued_before_ntp_set_the_clock_is_not_expired_by_the_step(tmp_path, receiver, monkeypatch):
    """A Pi without RTC boots with its last saved time (three days behind after a long power cut), queues an alert
    while the uplink is still down, then NTP steps the clock: the alert is minutes old, not three days."""
    monkeypatch.setenv("ROBOT_KEY", "robot-key-0123456789")
    clock = FakeClock(START - timedelta(days=3), synced=False)
    svc = NotifyService(config(tmp_path, [{"name": "group", "kind": "wecom", "url": receiver.url,
                                           "secret_env": "ROBOT_KEY"}]), EventBus(), clock)
    (d,) = svc.open()
    svc.bus.publish(violation(clock, i=0))
    clock.step_wall(3 * 86400)
    clock.set_synced(True)
    clock.advance(60)
    svc.bus.publish(late := violation(clock, i=1))  # stamped by the set clock: its age is known
    clock.advance(2 * 86400)  # and nothing goes out for two more days (the robot unreachable)
    drain(svc, clock)
    assert d.counts.delivered == 1 and d.counts.expired == 1
    assert [doc["event"]["event_id"] for doc in dead_letters(tmp_path, "group")] == [late.event_id]


@pytest.mark.parametrize("max_age_h,expired", [(0, 0), (1, 1), (None, 0)])
def test_max_age_h_sets_the_limit_and_zero_sends_however_old(tmp_path, receiver, monkeypatch, max_age_h, expired):
    monkeypatch.setenv("ROBOT_KEY", "robot-key-0123456789")
    clock = FakeClock(START)
    sink = {"name": "group", "kind": "wecom", "url": receiver.url, "secret_env": "ROBOT_KEY"}
    svc = NotifyService(config(tmp_path, [{**sink, "max_age_h": max_age_h}]), EventBus(), clock)
    (d,) = svc.open()
    svc.bus.publish(violation(clock))
    clock.advance(2 * 3600)  # two hours in the outbox (the agent was stopped, say)
    drain(svc, clock)
    assert (d.counts.expired, d.counts.delivered) == (expired, 1 - expired)


@pytest.mark.parametrize("value", [-1, 8761, float("nan"), float("inf"), "a day"])
def test_max_age_h_out_of_range_is_a_config_error_naming_the_key(tmp_path, value):
    from edge_agent.config.load import ConfigError

    with pytest.raises(ConfigError) as exc:
        config(tmp_path, [{"name": "x", "kind": "wecom", "secret_env": "K", "max_age_h": value}])
    assert any(p.startswith("notify.sinks[0].max_age_h") for p in exc.value.problems), exc.value.problems


@pytest.mark.parametrize(("zone", "day"), [
    ("Europe/Berlin", datetime(2026, 10, 24, 20, 0)),  # 22:00 CEST; the clocks go back at 03:00: 10 h to 07:00
    ("America/New_York", datetime(2026, 11, 1, 2, 0)),  # 22:00 EDT; back at 02:00
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 11, 0)),  # 22:00 +11:00; back half an hour at 02:00
    ("Europe/Berlin", datetime(2026, 3, 28, 21, 0)),  # 22:00 CET; forward at 02:00: 8 h
    ("Asia/Kathmandu", datetime(2026, 6, 1, 16, 15)),  # 22:00 +05:45, no summer time
])
def test_an_alert_held_by_quiet_hours_is_sent_when_they_end_also_the_night_the_clocks_go_back(
        tmp_path, receiver, monkeypatch, zone, day):
    """``max_age_h`` above the quiet hours (as the docs advise: 9.25 for '22:00'-'07:00') keeps the night's alerts;
    an alert's age is counted as the site's clock reads it when that is less. Before, the night summer time
    ends is an hour longer (half an hour on Lord Howe Island): the alert of 22:00 was 10 h old at 07:00 and
    went to the dead letters unsent."""
    from edge_agent.sim.scenario import scene_config

    monkeypatch.setenv("ROBOT_KEY", "robot-key-0123456789")
    clock = FakeClock(day.replace(tzinfo=timezone.utc))
    cfg = scene_config(str(tmp_path / "data"), site={"timezone": zone}, notify={"sinks": [
        {"name": "group", "kind": "wecom", "url": receiver.url, "secret_env": "ROBOT_KEY", "max_age_h": 9.25,
         "quiet_hours": {"start": "22:00", "end": "07:00"}}]})
    svc = NotifyService(cfg, EventBus(), clock)
    (d,) = svc.open()
    svc.bus.publish(violation(clock))
    sent_at = None
    for _ in range(11 * 60):  # every minute until after 07:00
        d.pump()
        if sent_at is None and d.counts.delivered:
            sent_at = clock.now().astimezone(ZoneInfo(zone))
        clock.advance(60)
    svc.stop()
    assert (d.counts.delivered, d.counts.expired) == (1, 0)
    assert sent_at is not None and sent_at.strftime("%H:%M") == "07:00"  # held, then sent as the quiet hours end
