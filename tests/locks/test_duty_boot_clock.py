"""The motor's duty over reboots that each set the wall clock back to the same time (probe review58).

A Pi without an RTC boots at its last saved time (fake-hwclock saves hourly; timesyncd's clock file) until NTP steps
it. A motor whose stall sags the supply resets the Pi at each drive (a brownout loop), and with no network each boot
starts at that same saved time: every start the run before saved lies a few seconds "ahead" of the next boot's clock.
Dropped as of unknown age (review56), each boot found the duty empty and drove the start's own lowering again — one
start a boot, with no bound. Their order is known though: the newest is taken as now, the ones before keep their
spacing on the clock they were saved on, so the duty holds across such boots while a single step back still frees the
held lowering within one window (``tests/locks/test_duty_clock_set_back.py``).

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from edge_agent.locks.interlock import _ages
from tests.locks.conftest import Rig
from tests.locks.test_crash_loop_duty import _down_starts, _most_in_a_window, _pushed_down_while_stopped

BOOT_S = 12.0  # a fast boot: power back to the agent's start


def _brownout_loop(rig: Rig, boots: int, seed: int) -> None:
    """``boots`` times: a random part of the drive, the Pi reset by it, and a boot at the same saved wall time (within
    the boot's own jitter of a second or two)."""
    rnd = random.Random(seed)
    saved = rig.clock.now()
    for _ in range(boots):
        rig.step(rnd.uniform(0.3, rig.lock_cfg.motor_timeout_s - 0.1))
        rig.arm.set_drive(None)
        rig.clock.advance(BOOT_S)
        rig.clock.step_wall((saved - rig.clock.now()).total_seconds() + rnd.uniform(0.0, 2.0))
        rig.restart(killed=True)


def test_reboots_to_the_same_saved_clock_keep_to_the_motor_duty(make_rig, kind, tmp_path):
    rig = _pushed_down_while_stopped(make_rig, kind, tmp_path / "lock-latches.json")
    t0 = rig.clock.monotonic()
    _brownout_loop(rig, 40, seed=58)
    starts = _down_starts(rig, t0)
    most = rig.lock_cfg.max_moves
    assert _most_in_a_window(starts, rig.lock_cfg.max_moves_window_s) <= most, (len(starts), starts)
    rig.safe()


def test_ages_keep_order_and_spacing_across_a_step_back():
    """The newest start saved ahead of the clock is taken as now; a step back between two saved starts (NTP during
    the run) is no spacing, never a negative one; starts behind the clock keep their ages."""
    wall = datetime(2026, 1, 1, 8, 0, tzinfo=timezone.utc)
    at = [wall + timedelta(seconds=s) for s in (100, 110, 120, -3590, -3580)]  # stepped back an hour after the third
    assert _ages(at, wall) == ([3610.0, 3600.0, 3590.0, 3590.0, 3580.0], True)
    ages, stepped = _ages(at, wall - timedelta(hours=2))  # the whole list ahead
    assert stepped and ages == [30.0, 20.0, 10.0, 10.0, 0.0], ages
    assert _ages([wall - timedelta(seconds=s) for s in (50, 20, 5)], wall) == ([50.0, 20.0, 5.0], False)
