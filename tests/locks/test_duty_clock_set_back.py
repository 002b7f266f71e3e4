"""The motor's duty over a restart with the wall clock set back (probe review56).

The saved starts (``lock-latches.json`` ``starts``) are aged on the wall clock. A Pi without an RTC boots at 1970 or
at its last saved time (fake-hwclock, hourly; timesyncd's clock file) and NTP steps the clock later, either way. A
start the clock now reads as ahead of it was counted as now: each start of a crash loop counted it as now again, so a
start's own lowering held by the duty never started for as long as the clock was behind (an hour after a step back
of one), and a busy lock's last starts stood "now" at the boot after a power cut, the arm the cut left half up held
there for a whole window. Such a start's age is unknown, its order and spacing not: the newest is taken as now and
the ones before it keep their spacing, saved so at once (review58: dropped, a Pi reset at each drive and booting at one
saved time drove the motor at every boot, ``tests/locks/test_duty_boot_clock.py``).

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

import json

from edge_agent.clock import parse_iso
from tests.locks.conftest import BAY, Rig
from tests.locks.test_crash_loop_duty import _crash_loop, _down_starts, _most_in_a_window, _pushed_down_while_stopped

HOUR = 3600.0


def test_a_crash_loop_after_the_clock_is_set_back_still_lowers(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    _crash_loop(rig, 12, seed=3)  # the duty spent: the start's run-on held
    rig.clock.step_wall(-HOUR)  # NTP steps the clock back an hour
    t0 = rig.clock.monotonic()
    _crash_loop(rig, 80, seed=9)  # ~590 s of restarts, each killed during the start's drive
    starts = _down_starts(rig, t0)
    assert starts, "the held lowering never started while the clock was behind the saved starts"
    window, most = rig.lock_cfg.max_moves_window_s, rig.lock_cfg.max_moves
    # at most max_moves more after the step, then the duty holds on the clock as it reads now
    assert _most_in_a_window(starts, window) <= 2 * most, starts
    assert _most_in_a_window(starts[most:], window) <= most, starts
    rig.safe()


def _busy_hour_then_a_power_cut_mid_rise(make_rig, kind: str, path) -> Rig:  # noqa: ANN001
    """Seven visits in 40 minutes (14 starts: the last max_moves saved), then the power cut 1.5 s into a rise."""
    rig = make_rig(kind, position=0.0, latches_at=path)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(4)
    for visit in range(7):
        assert rig.state == "up"
        assert rig.manager.unlock(BAY, "visitor", "ops").ok
        rig.step(4)
        assert rig.state == "down"
        while not rig.up_active():  # the policy's raise at the admit window's end
            rig.step(1)
        if visit < 6:
            rig.step(300)
    rig.step(1.5)
    assert 0 < rig.arm.position < 1
    rig.arm.set_drive(None)  # the power cut: the arm stops half up
    return rig


def test_a_power_cut_mid_rise_lowers_at_once_on_a_clock_behind(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = _busy_hour_then_a_power_cut_mid_rise(make_rig, kind, path)
    assert len(json.loads(path.read_text())["starts"]["L1"]) == rig.lock_cfg.max_moves
    rig.clock.advance(120)  # power back, the Pi booted
    rig.clock.step_wall(-HOUR)  # at its last saved time: behind every saved start
    rig.restart(killed=True)
    il = rig.manager._unit(BAY).interlock
    assert il.fault == "position_unknown"
    assert rig.down_active(), f"lowering held {il.owed_lowering_in()}s by starts of unknown age"
    rig.step(4)
    assert rig.arm.position == 0.0
    rig.step(1)
    starts = json.loads(path.read_text())["starts"]["L1"]  # put on the clock as it reads now, none lost
    assert len(starts) == rig.lock_cfg.max_moves and max(map(parse_iso, starts)) <= rig.clock.now(), starts
    rig.safe()
