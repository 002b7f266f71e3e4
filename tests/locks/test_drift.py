"""An arm that will not stay up: it sags off its up switch (worn gear, slipping brake) or the up switch
drops out (loose, misadjusted) again and again in an empty bay.

The probe: each loss was a ``lock_tamper``, the arm was lowered, and the policy raised it again
``auto_raise_delay_s`` later — 16 raises in 600 s, for ever, with no fault. Now the third loss within
an hour that no vehicle explains latches FAULT ``arm_drift``: lowered, no more raises, until a reset.
A car pushing the arm is still a tamper, never drift.
"""

from __future__ import annotations

import pytest

from edge_agent.events.types import EventType
from edge_agent.locks.drift import DRIFT_LOSSES, DRIFT_WINDOW_S
from tests.locks.conftest import BAY, Rig


def raises(rig: Rig) -> int:
    return sum(1 for e in rig.of(EventType.LOCK_MOVED) if e.data.get("direction") == "up")


def fault_codes(rig: Rig) -> list[str]:
    return [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)]


def lose_up(rig: Rig, how: str) -> None:
    """The arm leaves its up switch with nobody near: it sags a little, or the switch drops out for 0.3 s."""
    if how == "sag":
        rig.inject("move_to", 0.97)
    else:
        rig.inject("stick_switch", "up", False)
        rig.step(0.3)
        rig.inject("stick_switch", "up", None)


def run_drifting(rig: Rig, seconds: float, how: str, hold_s: float = 3.0) -> None:
    """Step ``seconds``; whenever the arm has been fully up for ``hold_s``, it loses the up position."""
    end = rig.clock.monotonic() + seconds
    up_since: float | None = None
    while rig.clock.monotonic() < end:
        rig.step(0.1)
        if rig.state == "up" and rig.arm.position >= 1.0 - 1e-6:
            up_since = rig.clock.monotonic() if up_since is None else up_since
            if rig.clock.monotonic() - up_since >= hold_s:
                lose_up(rig, how)
                up_since = None
        else:
            up_since = None


@pytest.mark.parametrize("how", ["sag", "loose_switch"])
def test_an_arm_that_keeps_losing_its_up_position_ends_in_a_fault(make_rig, kind, how):
    rig = make_rig(kind, position=1.0)
    run_drifting(rig, 600, how)
    # before: 16 raises and 17 tampers in 600 s, no fault; now the third loss latches the fault
    assert raises(rig) == DRIFT_LOSSES - 1
    assert len(rig.of(EventType.LOCK_TAMPER)) == DRIFT_LOSSES
    assert fault_codes(rig) == ["arm_drift"]
    fault = rig.of(EventType.LOCK_FAULT)[0]
    assert "3 times" in fault.data["message"]
    assert rig.state == "fault" and rig.arm.position == 0.0 and rig.arm.drive is None
    assert rig.manager.status()[BAY]["raise_due_in_s"] is None
    res = rig.manager.lock(BAY, reason="operator tries", operator="ops")
    assert not res.ok and res.data["code"] == "fault"
    rig.safe()


def test_the_fault_holds_until_an_operator_reset(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    run_drifting(rig, 200, "sag")
    assert fault_codes(rig) == ["arm_drift"]
    rig.step(3600)  # an hour later: no raise, the loss history is no way out of the fault
    assert rig.state == "fault" and raises(rig) == DRIFT_LOSSES - 1
    res = rig.manager.reset(BAY, "tech")
    assert res.ok and rig.state == "down"
    rig.step(35)  # the bay is free: the policy raises again (the count starts from nothing)
    assert rig.state == "up" and raises(rig) == DRIFT_LOSSES
    run_drifting(rig, 600, "sag")  # not repaired: three more losses, the fault again
    assert fault_codes(rig) == ["arm_drift", "arm_drift"] and rig.arm.position == 0.0
    rig.safe()


def test_a_reset_lowers_an_arm_found_up(make_rig, kind):
    """Lifted by hand onto its up switch while in the fault (no tamper is judged then): the reset does
    not take the up switch's word for a raised, checked arm — it lowers it."""
    rig = make_rig(kind, position=1.0)
    run_drifting(rig, 200, "sag")
    assert rig.state == "fault" and rig.arm.position == 0.0
    rig.inject("move_to", 1.0)
    rig.step(1)
    rig.set_vehicle(True)  # a car rolls in meanwhile: the policy's raise waits, the lowering does not
    assert rig.manager.reset(BAY, "tech").ok
    assert rig.down_active() and rig.of(EventType.LOCK_MOVED)[-1].data["safety"] is True
    rig.step(3.2)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_a_car_pushing_the_arm_is_tamper_not_drift(make_rig, kind):
    """Each push is followed by the car the sensors see: explained, so it never adds up to a fault."""
    rig = make_rig(kind, position=1.0)
    for _ in range(DRIFT_LOSSES + 2):
        rig.inject("move_to", 0.5)  # the bumper pushes the arm part-way …
        rig.step(0.5)
        rig.bay("occupied")  # … the car parks: presence and camera see it
        rig.set_vehicle(True)
        rig.step(60)
        assert rig.state == "down"
        rig.vehicle_leaves()
        rig.step(35)  # free for auto_raise_delay_s: up again
        assert rig.state == "up"
    assert len(rig.of(EventType.LOCK_TAMPER)) == DRIFT_LOSSES + 2
    assert not rig.of(EventType.LOCK_FAULT)
    rig.safe()


def test_losses_further_apart_than_the_window_are_not_drift(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    gap = DRIFT_WINDOW_S / (DRIFT_LOSSES - 1) + 60  # never DRIFT_LOSSES of them within one window
    for _ in range(DRIFT_LOSSES + 1):
        lose_up(rig, "sag")
        rig.step(gap, dt=0.5)
        assert rig.state == "up"
    assert not rig.of(EventType.LOCK_FAULT)
    rig.safe()
