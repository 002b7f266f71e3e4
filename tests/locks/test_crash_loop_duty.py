"""The motor's duty holds across restarts (probe lock36).

``max_moves`` starts a ``max_moves_window_s`` were counted in memory only. A crash loop (systemd's ``Restart=`` every
5 s) that kills the agent during a start's own drive — a restored fault's lowering of a stalled arm, an unproven
start's run-on of ``motor_timeout_s`` — drove the motor again at every start: 30 kills at random points of the drive,
30 starts in 3.7 minutes and 71 s against the stall or the stop. The starts are saved now (``lock-latches.json``
``starts``, riding the move's own record write), and a start's own lowering past the duty waits, said.

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, Rig
from tests.locks.test_restart_owed import readable_by_0_22

RESTART_S = 5.0  # deploy/edge-agent.service: RestartSec=5
HELD_KEYS = {"lowering", "presence_blind"}  # all 0.23.0's reader takes in an entry of ``held``


def _down_starts(rig: Rig, since: float) -> list[float]:
    return [t for t, d in rig.arm.history if d == "down" and t >= since]


def _crash_loop(rig: Rig, kills: int, seed: int) -> None:
    """``kills`` times: the agent runs a random part of a drive, is killed (its lines released), and comes back."""
    rnd = random.Random(seed)
    for _ in range(kills):
        rig.step(rnd.uniform(0.3, rig.lock_cfg.motor_timeout_s - 0.1))
        rig.arm.set_drive(None)  # the process died: its motor lines released
        rig.clock.advance(RESTART_S)
        rig.restart(killed=True)


def _most_in_a_window(starts: list[float], window: float) -> int:
    return max((sum(1 for s in starts if t <= s < t + window) for t in starts), default=0)


def _stalled_between(make_rig, kind: str, path: Path) -> Rig:  # noqa: ANN001
    """An arm stopped between its switches with its motor stalled: each start latches ``position_unknown`` (or
    restores it) and drives the lowering, which the stall keeps from ever reaching the down switch."""
    rig = make_rig(kind, position=0.5, latches_at=path, start=False)
    rig.inject("stall")
    rig.start()
    return rig


def _pushed_down_while_stopped(make_rig, kind: str, path: Path) -> Rig:  # noqa: ANN001
    """A run that raised the arm, watched, to its up switch; the arm pushed down by hand while the agent was stopped:
    each start reads ``down`` where the last run left it ``up`` and drives the run-on for ``motor_timeout_s``."""
    rig = make_rig(kind, position=0.0, latches_at=path)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(4)
    assert rig.state == "up"
    rig.manager.stop()
    rig.arm.position = 0.0
    rig.restart(killed=True)
    assert rig.down_active()
    return rig


@pytest.mark.parametrize("setup", [_stalled_between, _pushed_down_while_stopped])
def test_a_crash_loop_during_a_starts_drive_keeps_to_the_motor_duty(make_rig, kind, tmp_path, setup, caplog):
    path = tmp_path / "lock-latches.json"
    rig = setup(make_rig, kind, path)
    t0 = rig.clock.monotonic()
    _crash_loop(rig, 29, seed=36)
    starts = _down_starts(rig, t0)
    window, most = rig.lock_cfg.max_moves_window_s, rig.lock_cfg.max_moves
    assert _most_in_a_window(starts, window) <= most, starts  # before: 30 starts within 221 s
    doc = json.loads(path.read_text())
    assert len(doc["starts"]["L1"]) == most  # the last max_moves, on disk
    assert readable_by_0_22(path) and all(e.keys() <= HELD_KEYS for e in doc.get("held", {}).values())
    # the start past the duty waits, and says so: the log, the live page, and lock_moved where no fault holds it
    assert any("lowered in" in r.getMessage() and "max_moves" in r.getMessage() for r in caplog.records)
    owed = rig.manager.lock_notes()[BAY].lowering_in_s
    assert owed is not None and 0 < owed <= window
    if rig.manager._unit(BAY).interlock.fault is None:
        assert "max_moves" in rig.of(EventType.LOCK_MOVED)[-1].data["reason"]
    # the wait ends and the owed lowering starts once the motor may
    t1 = rig.clock.monotonic()
    rig.step(owed + rig.lock_cfg.motor_timeout_s + 0.5)
    assert _down_starts(rig, t1), "the held lowering never started"
    # the setup's rise comes after the bay was watched free (review74), 29 s later: its start counts that much longer
    # in the duty window, the held lowering waits longer, and the policy's own raise of the free bay may be under
    # way by now: let it end (every step is still watched for an unsafe UP)
    rig.step(4)
    rig.safe()


def test_a_restart_within_the_duty_drives_at_once(make_rig, kind, tmp_path):
    """The saved starts hold only past ``max_moves``: one kill during a start's run-on, and the next start drives it
    again at once, as before."""
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    rig.step(2)
    rig.arm.set_drive(None)
    rig.clock.advance(RESTART_S)
    rig.restart(killed=True)
    assert rig.down_active() and rig.manager.lock_notes()[BAY].lowering_in_s is None
    rig.step(rig.lock_cfg.motor_timeout_s + 0.5)
    assert rig.state == "down"
    rig.safe()


def test_an_nev_is_lowered_for_while_a_starts_lowering_waits_for_the_duty(make_rig, kind, tmp_path):
    """No fault: a start's own lowering held by the duty is the interlock's; an NEV's lowering is never held by the
    duty (DOWN is always allowed) and drives it at once — with its run-on: the arm read down is not taken at its
    word. Answered "already lowering", nothing would have moved."""
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    _crash_loop(rig, 12, seed=7)
    il = rig.manager._unit(BAY).interlock
    assert il.fault is None and il.owed_lowering_in() and not rig.down_active()
    rig.see(occupied=False, p_occupied=0.05)
    t0 = rig.clock.monotonic()
    d = il.request("down", "NEV arrived")
    assert d.ok and d.message == "lowering", d
    assert rig.down_active()
    rig.step(rig.lock_cfg.motor_timeout_s - 1)
    assert rig.down_active(), "a run-on, not a lowering ended at the down switch it doubts"
    rig.step(1.5)
    assert rig.state == "down" and len(_down_starts(rig, t0)) == 1
    rig.safe()


def test_starts_older_than_the_window_or_from_a_clock_set_back(make_rig, kind, tmp_path):
    """Ages are read on the wall clock (the monotonic one starts again at a reboot): starts a window old hold
    nothing; a wall clock set back behind them (a Pi booted before NTP) leaves their age unknown: the newest is taken as
    now, once, and saved so — a wait of one window at most (``tests/locks/test_duty_clock_set_back.py``: counted as
    now at every start, a crash loop's held lowering never started while the clock was behind them)."""
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    _crash_loop(rig, 12, seed=3)
    rig.arm.set_drive(None)
    rig.clock.advance(rig.lock_cfg.max_moves_window_s)
    rig.restart(killed=True)
    assert rig.down_active(), "starts a window old held the motor"
    rig.arm.set_drive(None)
    _crash_loop(rig, 11, seed=4)  # the duty spent again
    rig.arm.set_drive(None)
    rig.clock.advance(rig.lock_cfg.max_moves_window_s)
    rig.clock.step_wall(-2 * rig.lock_cfg.max_moves_window_s)
    rig.restart(killed=True)
    owed = rig.manager.lock_notes()[BAY].lowering_in_s  # the newest taken as now: a wait of one window at most
    assert not rig.down_active() and owed is not None and 0 < owed <= rig.lock_cfg.max_moves_window_s
    rig.step(owed + 0.5)
    assert rig.down_active(), "the clock set back held the lowering past one window"
    rig.safe()


def test_maintenance_kept_over_a_crash_loop_keeps_to_the_motor_duty(make_rig, kind, tmp_path):
    """Maintenance mode restored at each start lowers an arm found off its down end — the start's own drive too: a
    crash loop with the arm held up by a stall (no fault: each run killed before the timeout) started the motor at
    every start."""
    path = tmp_path / "lock-latches.json"
    rig = make_rig(kind, position=1.0, latches_at=path)
    rig.inject("stall")
    assert rig.manager.set_maintenance(BAY, True, "tech").ok
    t0 = rig.clock.monotonic()
    _crash_loop(rig, 29, seed=5)
    assert rig.manager.status()[BAY]["mode"] == "maintenance"
    starts = _down_starts(rig, t0)
    assert _most_in_a_window(starts, rig.lock_cfg.max_moves_window_s) <= rig.lock_cfg.max_moves, starts
    rig.step(rig.lock_cfg.max_moves_window_s + rig.lock_cfg.motor_timeout_s)
    rig.safe()
