"""A burst to a group robot keeps within the robot's rate: WeCom and DingTalk take 20 messages a minute
per robot, and DingTalk answers the 21st by refusing everything for 10 minutes. A real loopback server
plays such a robot on the test's FakeClock; the sink's requests are paced to its ``per_minute``."""

from __future__ import annotations

import json

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event
from edge_agent.notify.service import NotifyService
from tests.notify.helpers import config, violation
from tests.notify.receiver import Received, Receiver

BUSY = (200, {}, json.dumps({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}).encode())


class Robot:
    """DingTalk's documented rule: at most 20 in any minute; past that, every message is refused for 10 min."""

    def __init__(self, clock: FakeClock, per_minute: int = 20, block_s: float = 600.0) -> None:
        self.clock, self.per_minute, self.block_s = clock, per_minute, block_s
        self.taken: list[float] = []  # when each message was taken
        self.seen: list[float] = []  # when each request came
        self.refused = 0
        self._blocked_until = float("-inf")

    def __call__(self, _req: Received) -> tuple[int, dict[str, str], bytes] | None:
        now = self.clock.monotonic()
        self.seen.append(now)
        if now >= self._blocked_until and sum(now - t < 60 for t in self.taken) < self.per_minute:
            self.taken.append(now)
            return None  # the receiver answers {"errcode": 0}
        if now >= self._blocked_until:
            self._blocked_until = now + self.block_s
        self.refused += 1
        return BUSY


def burst(tmp_path, monkeypatch, sink: dict[str, object], n: int) -> tuple[FakeClock, Robot, NotifyService, float]:
    monkeypatch.setenv("ROBOT_KEY", "robot-key-0123456789")
    clock = FakeClock()
    robot = Robot(clock)
    rec = Receiver(rule=robot).start()
    try:
        bus = EventBus()
        svc = NotifyService(config(tmp_path, [{"secret_env": "ROBOT_KEY", "url": rec.url, **sink}]), bus, clock)
        (d,) = svc.open()
        for i in range(n):
            bus.publish(violation(clock, i=i))
        start = clock.monotonic()
        while d.depth() and clock.monotonic() - start < 3600:
            clock.advance(d.pump())
        return clock, robot, svc, start
    finally:
        rec.stop()


@pytest.mark.parametrize("kind", ["dingtalk", "wecom"])
def test_a_burst_to_a_robot_goes_out_at_its_rate_instead_of_into_its_block(tmp_path, monkeypatch, kind):
    """Before: 20 went at once, the 21st tripped DingTalk's 10-minute block and the backoff kept knocking:
    the last of 30 violations reached the group 810 s after the burst (9 requests refused)."""
    clock, robot, svc, start = burst(tmp_path, monkeypatch, {"name": "ops", "kind": kind}, 30)
    (d,) = svc.deliveries
    assert d.depth() == 0 and d.counts.delivered == 30
    assert robot.refused == 0 and d.counts.failures == 0 and d.last_error is None
    assert max(robot.taken) - start <= 61  # 20 now, 10 a minute later
    assert max(sum(0 <= u - t < 60 for u in robot.taken) for t in robot.taken) == 20


def test_max_per_minute_sets_the_pace_and_webhooks_are_not_paced_by_default(tmp_path, monkeypatch):
    _, robot, _, start = burst(tmp_path / "a", monkeypatch, {"name": "a", "kind": "wecom", "max_per_minute": 5}, 12)
    assert robot.refused == 0 and sorted({round(t - start) for t in robot.taken}) == [0, 60, 120]

    hook = {"name": "b", "kind": "webhook", "events": ["violation_started"]}
    _, robot, svc, start = burst(tmp_path / "b", monkeypatch, hook, 25)  # a backend: no rate of its own known
    assert svc.deliveries[0].counts.delivered == 25 and robot.seen == [start] * 25


@pytest.mark.parametrize("value", [0, -1, 6001, 2.5, "many"])
def test_max_per_minute_out_of_range_is_a_config_error_naming_the_key(tmp_path, value):
    from edge_agent.config.load import ConfigError

    with pytest.raises(ConfigError) as exc:
        config(tmp_path, [{"name": "x", "kind": "wecom", "secret_env": "K", "max_per_minute": value}])
    assert any(p.startswith("notify.sinks[0].max_per_minute") for p in exc.value.problems), exc.value.problems


def test_two_sinks_into_one_robot_share_its_rate(tmp_path, monkeypatch):
    """Violations (quiet at night) and faults (at any hour) into the same group: one robot, one key. Before:
    each sink was paced 20 a minute, 40 together, and the robot blocked them both."""
    monkeypatch.setenv("ROBOT_KEY", "robot-key-0123456789")
    clock = FakeClock()
    robot = Robot(clock)
    rec = Receiver(rule=robot).start()
    try:
        sinks = [{"name": "violations", "kind": "dingtalk", "events": ["violation_started"]},
                 {"name": "faults", "kind": "dingtalk", "events": ["lock_fault"], "max_per_minute": 15},
                 {"name": "other_group", "kind": "dingtalk", "events": ["lock_fault"], "secret_env": "OTHER_KEY"}]
        monkeypatch.setenv("OTHER_KEY", "another-robot-0123456789")
        bus = EventBus()
        svc = NotifyService(config(tmp_path, [{"secret_env": "ROBOT_KEY", "url": rec.url, **s} for s in sinks]), bus,
                            clock)
        violations, faults, other = svc.open()
        assert violations.pacer is faults.pacer and faults.pacer.per_minute == 15  # the smaller of the two
        assert other.pacer is not faults.pacer and other.pacer.per_minute == 20  # another robot: its own 20
        for i in range(15):
            bus.publish(violation(clock, i=i))
            bus.publish(Event.make("lock_fault", clock, bay_id="A", data={"reason": "motor_timeout"}))
        start = clock.monotonic()
        while any(d.depth() for d in (violations, faults)) and clock.monotonic() - start < 3600:
            clock.advance(min(violations.pump(), faults.pump()))
    finally:
        rec.stop()
    assert violations.counts.delivered == faults.counts.delivered == 15
    assert robot.refused == 0 and max(robot.taken) - start <= 61
