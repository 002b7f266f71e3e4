"""A lowering asked for in a fault that says the down switch lies is driven, not answered "already down" (probe lock34).

``switch_early``, ``switches_both`` and ``switch_flapping`` say a switch of the lock reads what the arm is not doing.
With the down switch shut under a stone, an NEV's lowering (or an ``unlock``) in such a fault was answered "already
down (fault)", the arm lifted half up meanwhile: the NEV driven into it, the backend told it was down. Down is always
safe: the arm is driven down for its usual stroke whatever the switch says, within the motor's duty, and not once a
lowering in the fault has timed out; where it cannot be driven the answer says the arm may not be down.

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

from tests.locks.conftest import BAY, NEV_PLATE, Rig
from tests.locks.test_lying_switch_run_on import _switch_early_with_the_arm_lifted
from tests.locks.test_unwatched import _cycles


def _stone_then_lift(rig: Rig) -> None:
    """FAULT ``switch_early`` (a stone on the down switch 1.1 s into a 3 s lowering), then the arm lifted half up:
    the switch, still shut, does not see it."""
    _switch_early_with_the_arm_lifted(rig)
    rig.step(1)
    assert rig.arm.position == 0.5


def test_an_nev_in_switch_early_gets_the_arm_driven_down_under_the_stone(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    _stone_then_lift(rig)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(0.5)
    assert rig.down_active()  # before: nothing driven, the arm at 0.5 in front of the NEV
    rig.step(3)
    assert rig.arm.position == 0.0 and not rig.down_active() and rig.state == "fault"
    # the stone is still there: the next lift is no more visible, and the next lowering is driven again
    rig.inject("move_to", 0.4)
    rig.step(2)
    d = rig.manager.unlock(BAY, reason="NEV 2", operator="ops")
    assert d.ok and "down switch may lie" in d.message, d  # before: "already down (fault)"
    rig.step(3.5)
    assert rig.arm.position == 0.0 and not rig.down_active()
    rig.safe()


def test_a_lowering_not_driven_says_the_arm_may_not_be_down(make_rig, kind):
    """Past the motor's duty (``max_moves`` in the window) the lowering is not driven, and the answer says so."""
    rig = make_rig(kind, position=1.0, max_moves=8)
    _stone_then_lift(rig)  # 7 starts: 3 cycles and the lowering the stone stopped
    assert rig.manager.unlock(BAY, reason="NEV", operator="ops").ok  # the 8th
    rig.step(3.5)
    rig.inject("move_to", 0.5)
    rig.step(2)
    d = rig.manager.unlock(BAY, reason="NEV", operator="ops")
    assert not d.ok and d.data["code"] == "down_unconfirmed" and "may not be down" in d.message, d
    assert not rig.down_active()
    rig.safe()


def test_a_rise_s_switch_early_trusts_the_down_switch(make_rig, kind):
    """An up switch that closed early lied, not the down switch: the arm lowered to it is down."""
    rig = make_rig(kind, position=0.0)
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(4)
    assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
    rig.step(1.1)
    rig.inject("stick_switch", "up", True)
    rig.step(0.3)
    rig.inject("stick_switch", "up", None)
    rig.step(3)
    assert rig.state == "fault" and rig.arm.position == 0.0
    d = rig.manager.unlock(BAY, reason="NEV", operator="ops")
    assert d.ok and d.message == "already down (fault)" and not rig.down_active()
    rig.safe()
