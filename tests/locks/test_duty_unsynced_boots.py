"""The motor's duty over reboots whose wall clock is right on some boots only (probe lock38).

A motor whose stall sags the supply resets the Pi at each drive (a brownout loop). Each boot is a new boot, so only the
wall clock links one boot's saved starts (``lock-latches.json`` ``starts``) to the next. A Pi without an RTC boots at
its last saved time (fake-hwclock) and NTP sets it right only on the boots where the network answers in time. Starts
saved on a boot whose clock was behind read hours old to the next boot whose clock is right: its duty empty, the start's
own lowering driven again — 21 starts in a 300 s window against ``max_moves`` 12 before. Each start is saved now with
whether the wall clock was synchronised then (``start_marks`` ``synced``), and a start of another boot is linked to
this one on the wall clock only where both clocks were: otherwise it counts as no older than the newest start the wall
clock can place (``Interlock._restore_duty``).

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

from edge_agent.locks.interlock import _ages
from edge_agent.locks.latches import StartMark
from tests.locks.conftest import Rig
from tests.locks.test_crash_loop_duty import _down_starts, _most_in_a_window
from tests.locks.test_duty_one_boot import _pushed_down_while_stopped

BOOT_S = 12.0  # a fast boot: power back to the agent's start


def _brownout_loop(rig: Rig, boots: int, seed: int, synced_share: float = 0.5) -> None:
    """``boots`` times: a random part of the drive, the Pi reset by it, a new boot whose wall clock is right (NTP
    answered, synchronised) or back at the saved time (fake-hwclock, not synchronised)."""
    rnd = random.Random(seed)
    saved = rig.clock.now()
    true_at = rig.clock.now() - timedelta(seconds=rig.clock.monotonic())
    for i in range(boots):
        rig.step(rnd.uniform(0.3, rig.lock_cfg.motor_timeout_s - 0.1))
        rig.arm.set_drive(None)
        rig.clock.advance(BOOT_S)
        synced = rnd.random() < synced_share
        true = true_at + timedelta(seconds=rig.clock.monotonic())
        rig.clock.step_wall(((true if synced else saved) - rig.clock.now()).total_seconds() + rnd.uniform(0.0, 2.0))
        rig.clock.set_synced(synced)
        rig.boot_id = f"boot-{i}"
        rig.restart(killed=True)


def test_reboots_with_the_clock_right_on_some_keep_to_the_motor_duty(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    t0 = rig.clock.monotonic()
    for seed in (38, 39, 40):
        _brownout_loop(rig, 40, seed=seed)
    starts = _down_starts(rig, t0)
    most = rig.lock_cfg.max_moves
    assert _most_in_a_window(starts, rig.lock_cfg.max_moves_window_s) <= most, (len(starts), starts)
    rig.safe()


def test_a_crash_loop_in_the_next_boot_still_drives_the_held_lowering_within_a_window(make_rig, kind, tmp_path):
    """A start of an unsynchronised boot taken as now is put on this boot's clock at once (its mark): a crash loop in
    this boot then ages it, and the held lowering starts within one window. Left with its old boot's mark, each restart
    took it as now again: never."""
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    _brownout_loop(rig, 14, seed=2, synced_share=0.0)
    rig.boot_id = "boot-last"
    t1 = rig.clock.monotonic()
    for _ in range(80):  # a crash loop every 5 s in one boot, its clock never synchronised: the duty held
        rig.step(0.5)
        rig.arm.set_drive(None)
        rig.clock.advance(4.5)
        rig.restart(killed=True)
        if _down_starts(rig, t1):
            break
    assert _down_starts(rig, t1) and _down_starts(rig, t1)[0] - t1 <= rig.lock_cfg.max_moves_window_s + 5
    doc = json.loads(path.read_text())
    assert {m["boot"] for m in doc["start_marks"]["L1"]} == {"boot-last"}
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    rig.safe()


def test_marks_say_synced_only_when_true_and_stay_readable_by_0_26(make_rig, kind, tmp_path):
    """``synced`` is written inside a mark only where true: 0.26.0's reader takes a mark's ``boot`` and ``mono`` and
    passes the rest over (``git show 6f3699e5:edge_agent/locks/latches.py``); a mark without it reads as not
    synchronised — the safe side, as 0.26.0's writer leaves it."""
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    rig.clock.set_synced(True)
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    rig.watch_free()
    assert rig.manager.lock("B1", "close", "ops").ok
    rig.step(4)
    marks = json.loads(path.read_text())["start_marks"]["L1"]
    assert [m.get("synced") for m in marks] == [None, None, True], marks  # two made before the clock was synced
    assert all(
        m.keys() <= {"boot", "mono", "synced"} and isinstance(m["boot"], str) and isinstance(m["mono"], float)
        for m in marks
    )


def test_another_boots_starts_are_placed_by_the_wall_only_where_both_clocks_were_synced():
    wall = datetime(2026, 1, 1, 8, 0, tzinfo=timezone.utc)
    at = [wall - timedelta(hours=3, seconds=s) for s in (20, 10)]  # read 3 h old on the wall
    old = [StartMark("a", 50.0, True), StartMark("a", 60.0, True)]
    assert _ages(at, wall, old, "b", 5.0, synced=True) == ([10820.0, 10810.0], False)
    for marks, synced in ((old, False), ([StartMark("a", 50.0), StartMark("a", 60.0)], True)):
        assert _ages(at, wall, marks, "b", 5.0, synced=synced) == ([10.0, 0.0], True)  # newest now, spacing kept
    # two boots between them, one unsynchronised: no spacing between them
    two = [StartMark("a", 50.0, True), StartMark("c", 7.0, False)]
    assert _ages(at, wall, two, "b", 5.0, synced=True) == ([0.0, 0.0], True)
    # unmarked starts (no boot id known, or 0.24.0's): the wall alone, as before
    assert _ages(at, wall, None, "b", 5.0, synced=False) == ([10820.0, 10810.0], False)


def test_an_nevs_owed_lowering_is_still_driven_at_the_first_start(make_rig, tmp_path, clock):
    """DOWN is always allowed: the starts of an unsynchronised boot taken as now spend the duty, and an NEV's lowering
    owed over the reboot is driven at once all the same (``tests/locks/test_owed_lowering_asked.py``)."""
    from edge_agent.clock import iso
    from tests.locks.conftest import DOWN, NEV_PLATE
    from tests.locks.test_motor_write_failed import failing

    path = tmp_path / "lock-latches.json"
    old = clock.now() - timedelta(hours=3)  # read 3 h old on this boot's wall clock, saved by a boot not synced
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "locks": {},
                "starts": {"L1": [iso(old + timedelta(seconds=4 * i)) for i in range(12)]},
                "start_marks": {"L1": [{"boot": "old", "mono": 100.0 + 4 * i} for i in range(12)]},
            }
        )
    )
    clock.set_synced(True)
    rig = make_rig("gpio", position=1.0, latches_at=path, boot_id="new")
    assert rig.manager._unit("B1").interlock._duty_rest() > 0  # the 12 starts count as just made
    rig.step(1)
    failing(rig.pin(DOWN), True, times=None)
    rig.vehicle_arrives(NEV_PLATE, nev=True)  # owed: its write fails
    rig.boot_id = "newer"
    rig.restart(killed=True)
    rig.step(0.5)
    assert rig.down_active()
    rig.step(4)
    assert rig.arm.position == 0.0
    rig.safe()
