"""A FAULT holds the arm at its safe end, also against a hand that lifts it.

Only the ``up`` / ``down`` states were watched for an arm moving with no command: in ``fault`` nothing looked, so an
arm lifted while its lock was faulted (a passer-by, a brake letting go) stayed up in front of the next car for as
long as the fault lasted — hours, until someone came to reset it — with the lock saying only ``fault``.
"""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY


def faulted(make_rig, kind):  # noqa: ANN001, ANN201
    """A lock latched ``motor_timeout`` (a rise the motor could not make), its arm down, the motor working again."""
    rig = make_rig(kind, position=0.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.inject("stall")
    rig.watch_free()
    assert rig.manager.lock(BAY, "close the bay", "ops").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.state == "fault" and rig.arm.position == 0.0
    rig.inject("stall", False)
    rig.step(5)
    return rig


def test_an_arm_lifted_during_a_fault_is_said_and_lowered(make_rig, kind):
    rig = faulted(make_rig, kind)
    rig.inject("move_to", 1.0)  # lifted by hand to its up end
    rig.step(rig.lock_cfg.simulator.travel_time_s + 1)
    assert rig.arm.position == 0.0, "the fault's safe position is down"
    assert rig.state == "fault", "still a fault: only a reset ends it"
    said = rig.of(EventType.LOCK_TAMPER)
    assert [(e.data["was"], e.data["fault"]) for e in said] == [("fault", "motor_timeout")]
    assert not rig.manager.lock(BAY, "again", "ops").ok
    rig.safe()


def test_an_arm_lifted_halfway_during_a_fault_is_lowered(make_rig, kind):
    rig = faulted(make_rig, kind)
    rig.inject("move_to", 0.4)
    rig.step(rig.lock_cfg.simulator.travel_time_s + 1)
    assert rig.arm.position == 0.0
    rig.safe()


def test_no_lowering_again_once_one_timed_out_in_this_fault(make_rig, kind):
    """A motor that cannot lower the arm is not driven again and again: the fault's timed-out lowering said it."""
    rig = faulted(make_rig, kind)
    rig.inject("stall")
    rig.inject("move_to", 1.0)
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert not rig.down_active() and rig.arm.position == 1.0
    timed_out = [e for e in rig.of(EventType.LOCK_FAULT) if e.data.get("fault") == "motor_timeout"]
    assert len(timed_out) == 1, "the recovery's timeout said once"
    rig.inject("move_to", 0.0)
    rig.inject("move_to", 1.0)
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert not rig.down_active() and len(rig.of(EventType.LOCK_TAMPER)) == 1
    assert not rig.violations
