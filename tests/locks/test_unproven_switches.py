"""A start that reads the other end from where the last run's proven switches left the arm does not take the reading at
its word (probe lock35).

End switches swapped while the agent was stopped (a technician's rewiring, a config edit of the ``switches`` pins),
the arm up: the start read ``down``, the lock said ``down`` (an NEV told "already down" in front of the arm), and the
policy's raise drove it against its up stop until ``motor_timeout_s``, the arm left up under a fault. The last run's
rest (``lock-latches.json`` ``rest``, saved when a watched move ends at the switch it drove toward) tells: a start
reading the other end lowers the arm — for ``motor_timeout_s`` whatever a ``down`` reading says — which either ends at
the down switch (the wiring proven) or in a fault that says why.

On gpiozero's MockFactory pins (the config's switch pins swapped) and on the simulator (its arm's switches swapped), on
a fake clock (``tests/locks/conftest.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, NEV_PLATE, SW_DOWN, SW_UP, Rig

SWAPPED = {"down": {"pin": SW_UP}, "up": {"pin": SW_DOWN}}


def _raised_and_stopped(make_rig: Any, kind: str, path: Path) -> Rig:
    """A run that raised the arm, watched, to its up switch, then stopped."""
    rig = make_rig(kind, position=0.0, latches_at=path)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(4)
    assert rig.state == "up"
    assert json.loads(path.read_text())["rest"]["L1"]["position"] == "up"
    return rig


def _restarted(make_rig: Any, kind: str, rig: Rig, path: Path, swap: bool) -> Rig:
    """The agent stopped; (``swap``) the switches' lines swapped meanwhile; started again, the arm where it was."""
    position = rig.arm.position
    if kind == "sim":
        if swap:
            rig.arm.swap_switches()
        rig.restart()
        return rig
    rig.close()
    return make_rig(kind, position=position, latches_at=path, **({"switches": SWAPPED} if swap else {}))


def test_switches_swapped_while_stopped_do_not_leave_the_arm_up_said_down(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = _restarted(make_rig, kind, _raised_and_stopped(make_rig, kind, path), path, swap=True)
    rig.see(occupied=False, p_occupied=0.05)
    assert rig.arm.position == 1.0
    assert rig.state == "moving"  # before: "down", the arm up
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.arm.position == 0.0, rig.arm.position  # before: 1.0, the NEV in front of it
    codes = [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)]
    assert codes[-1] == "motor_reversed", codes  # the bottom read as the up switch: stopped there, said
    assert rig.arm.drive is None
    rig.safe()


def test_an_arm_moved_by_hand_while_stopped_is_lowered_once_and_then_trusted(make_rig, kind, tmp_path):
    """The same reading with the switches right (the arm pushed down by hand while the agent was stopped): driven down
    against its stop for ``motor_timeout_s`` — the cost — then ``down``, its rest saved; the next start moves nothing."""
    path = tmp_path / "lock-latches.json"
    rig = _raised_and_stopped(make_rig, kind, path)
    rig.manager.stop()
    rig.arm.position = 0.0
    rig = _restarted(make_rig, kind, rig, path, swap=False)
    assert rig.state == "moving" and rig.down_active()
    rig.step(rig.lock_cfg.motor_timeout_s + 0.5)
    assert rig.state == "down" and not rig.down_active() and not rig.of(EventType.LOCK_FAULT)
    assert json.loads(path.read_text())["rest"]["L1"]["position"] == "down"
    t0 = rig.clock.monotonic()
    rig = _restarted(make_rig, kind, rig, path, swap=False)
    rig.step(1)
    assert rig.state == "down" and not [t for t, d in rig.arm.history if t > t0 and d is not None]
    rig.safe()


def test_a_start_where_the_last_run_left_the_arm_moves_nothing(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = _raised_and_stopped(make_rig, kind, path)
    t0 = rig.clock.monotonic()
    rig = _restarted(make_rig, kind, rig, path, swap=False)
    rig.step(1)
    assert rig.state == "up" and not [t for t, d in rig.arm.history if t > t0 and d is not None]
    rig.safe()


def test_switches_swapped_at_a_faulted_lock_do_not_leave_its_arm_up_said_down(make_rig, kind, tmp_path):
    """The same swap while a saved fault holds the lock (the technician at the bay for it): a stalled lowering left the
    arm up (``motor_timeout``), the motor is mended and the switches' lines swapped with the agent stopped. The start
    restores the fault, which skipped the rest check: the swapped switches read ``down``, an NEV's lowering was
    answered "already down (fault)", and the reset said ``down`` — the arm up in front of the NEV (review48)."""
    path = tmp_path / "lock-latches.json"
    rig = _raised_and_stopped(make_rig, kind, path)
    rig.inject("stall")
    assert rig.manager.unlock(BAY, "visitor", "ops").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.state == "fault" and rig.arm.position == 1.0
    rig.inject("stall", False)
    rig = _restarted(make_rig, kind, rig, path, swap=True)
    rig.see(occupied=False, p_occupied=0.05)
    assert rig.state == "fault" and rig.arm.position == 1.0
    d = rig.manager._unit(BAY).interlock.request("down", "NEV arrived")
    assert not d.ok and d.code == "down_unconfirmed", d  # before: "already down (fault)"
    assert rig.manager.reset(BAY, operator="tech").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.arm.position == 0.0, rig.arm.position  # before: 1.0, the lock saying "down"
    assert rig.state == "fault" and rig.arm.drive is None  # the bottom read as the up switch: motor_reversed
    rig.safe()


def test_a_stroke_rewrites_the_file_twice_not_three_times(make_rig, kind, tmp_path, monkeypatch):
    """The saved rest rides on the write that ends the move's ``rising`` / ``lowering`` record: written on its own, it
    added a third fsync'd rewrite of the whole file to each stroke (an SD card's wear, review48); what a restart
    reads is the same."""
    import edge_agent.locks.latches as latches_mod

    path, writes = tmp_path / "lock-latches.json", []
    real = latches_mod.write_durably
    monkeypatch.setattr(latches_mod, "write_durably", lambda p, data: (writes.append(data), real(p, data)))
    rig = _raised_and_stopped(make_rig, kind, path)
    writes.clear()
    for _ in range(3):
        assert rig.manager.unlock(BAY, "open", "ops").ok
        rig.step(4)
        assert json.loads(path.read_text())["rest"]["L1"]["position"] == "down"
        assert rig.manager.lock(BAY, "close", "ops").ok
        rig.step(4)
        assert json.loads(path.read_text())["rest"]["L1"]["position"] == "up"
    assert len(writes) == 6 * 2, len(writes)  # before: 6 × 3
    rig.safe()


def test_switches_swapped_at_a_faulted_lock_whose_fault_lowers_are_driven_down_at_start(make_rig, kind, tmp_path):
    """The same swap under a saved fault whose safe position the start drives (no lowering timed out in it): a stuck
    switch latched ``switches_both`` with the arm up (the motor kept off), the technician freed it and swapped the
    switches' lines with the agent stopped. A fault restored with its arm off the down end is lowered at start; the
    swapped switches read ``down``, so it was not — doubted (review48) but left up, in front of the next NEV, until one
    came or a reset (review49). Now driven down whatever the down switch says: the bottom read as the up switch."""
    path = tmp_path / "lock-latches.json"
    rig = _raised_and_stopped(make_rig, kind, path)
    rig.inject("stick_switch", "down", True)
    rig.step(1)
    assert rig.state == "fault" and rig.arm.position == 1.0
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)] == ["switches_both"]
    rig.inject("stick_switch", "down", None)
    rig = _restarted(make_rig, kind, rig, path, swap=True)
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.arm.position == 0.0, rig.arm.position  # before: 1.0, nothing driven
    codes = [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)]
    assert codes[-1] == "motor_reversed", codes
    assert rig.state == "fault" and rig.arm.drive is None
    rig.safe()


def test_a_faulted_arm_pushed_down_by_hand_while_stopped_is_proven_down_once(make_rig, kind, tmp_path):
    """The same start with the switches right (the arm pushed down by hand meanwhile): driven against its down stop
    for ``motor_timeout_s`` once, its rest saved ``down``; the next start drives nothing; the fault stands."""
    path = tmp_path / "lock-latches.json"
    rig = _raised_and_stopped(make_rig, kind, path)
    rig.inject("stick_switch", "down", True)
    rig.step(1)
    assert rig.state == "fault"
    rig.inject("stick_switch", "down", None)
    rig.manager.stop()
    rig.arm.position = 0.0
    rig = _restarted(make_rig, kind, rig, path, swap=False)
    assert rig.down_active()
    rig.step(rig.lock_cfg.motor_timeout_s + 0.5)
    assert not rig.down_active() and rig.arm.position == 0.0
    assert json.loads(path.read_text())["rest"]["L1"]["position"] == "down"
    t0 = rig.clock.monotonic()
    rig = _restarted(make_rig, kind, rig, path, swap=False)
    rig.step(rig.lock_cfg.motor_timeout_s + 0.5)
    assert not [t for t, d in rig.arm.history if t > t0 and d is not None]
    assert rig.state == "fault" and [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)][-1] == "switches_both"
    rig.safe()
