"""A lowering that timed out in a fault is driven again only by an operator — also where it comes back owed (review49).

A stalled motor's lowering timed out (FAULT ``motor_timeout``): the policy's lowerings are not driven again, only an
operator's ``unlock`` or reset (review44, lock34). Two ways round that guard drove the stalled motor another
``motor_timeout_s`` all the same: the lock's tick failing three times in a minute (a GPIO read's transient ``EIO``)
latched ``tick_failed`` over the fault and owed the "safe position" lowering, and an NEV's lowering whose check failed
once was owed (``_owe_down``); each was started at the next tick with nobody having asked.

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

from typing import Any

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, Rig
from tests.locks.test_stalled_restart import _down_driven_s


def _timed_out(make_rig: Any, kind: str) -> Rig:
    """An arm up whose operator's lowering timed out against a stalled motor: FAULT motor_timeout, the arm up."""
    rig = make_rig(kind, position=1.0)
    rig.step(1)
    rig.inject("stall")
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.state == "fault" and rig.manager.lock_notes()[BAY].lowering_timed_out
    return rig


def _failing_reads(rig: Rig, on: bool) -> None:
    """The driver's switch reads raise (a GPIO chip's transient I/O error) or work again."""
    driver = rig.manager.driver(BAY)
    if on:
        driver.read_switches = lambda: (_ for _ in ()).throw(OSError(5, "Input/output error"))
    else:
        del driver.read_switches  # the class's own again


def test_a_tick_failing_over_a_timed_out_lowering_does_not_drive_the_stalled_motor(make_rig, kind):
    rig = _timed_out(make_rig, kind)
    _failing_reads(rig, True)
    rig.step(0.5)  # three failed ticks within a minute: tick_failed latched over motor_timeout
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)][-1] == "tick_failed"
    _failing_reads(rig, False)
    assert _down_driven_s(rig, 10) == 0.0  # before: 5.0, the stalled motor driven by nobody's request
    assert rig.arm.position == 1.0 and rig.manager.lock_notes()[BAY].lowering_timed_out
    # an operator's unlock still drives it (the motor repaired)
    rig.inject("stall", False)
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(4)
    assert rig.arm.position == 0.0
    rig.safe()


def test_an_nevs_lowering_owed_by_a_failed_check_is_not_driven_after_a_timed_out_one(make_rig, kind):
    rig = _timed_out(make_rig, kind)
    _failing_reads(rig, True)
    d = rig.manager._unit(BAY).interlock.request("down", "NEV arrived")
    _failing_reads(rig, False)
    assert not d.ok and d.code == "down_unconfirmed", d  # before: "lowering (the lock's check failed: …)"
    assert _down_driven_s(rig, 10) == 0.0  # before: 5.0
    assert rig.arm.position == 1.0
    rig.safe()


def test_an_operators_lowering_cut_short_by_a_latched_tick_failed_is_still_driven(make_rig, kind):
    """An operator's unlock drives the timed-out arm again (the motor repaired); its tick fails three times on the way
    (tick_failed latched over the fault): the lowering it owes is still the operator's. Before (review50), the latch
    dropped it for the fault's "safe position", nobody's, which ``_forbids_lowering`` refused once the driver worked
    again: the arm left part way up with the operator told "lowering"."""
    rig = _timed_out(make_rig, kind)
    rig.inject("stall", False)
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(1)
    assert 0.0 < rig.arm.position < 1.0 and rig.down_active()
    _failing_reads(rig, True)
    rig.step(0.5)
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)][-1] == "tick_failed"
    _failing_reads(rig, False)
    rig.step(5)
    assert rig.arm.position == 0.0  # before: left part way up (0.67), nothing owed
    rig.safe()


def test_an_operators_lowering_cut_short_by_a_flapping_switch_is_still_driven(make_rig, kind):
    """The same operator's lowering of a timed-out arm, its up switch flapping on the way (a loose wire):
    ``switch_flapping`` latched over the fault and began its own "safe position", nobody's, which
    ``_forbids_lowering`` refused — the operator's lowering ended there, the arm part way up (review50)."""
    rig = _timed_out(make_rig, kind)
    rig.inject("stall", False)
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(0.6)
    for _ in range(3):  # three short closings of the up switch, each under REVERSED_HOLD_S
        rig.arm.stuck["up"] = True
        rig.step(0.2)
        rig.arm.stuck["up"] = None
        rig.step(0.2)
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)][-1] == "switch_flapping"
    rig.step(5)
    assert rig.arm.position == 0.0  # before: left part way up, nothing owed
    rig.safe()
