"""The reset's run-on after a fault that says a switch lies (review43 of probe lock33): what interrupts it.

The run-on drives the arm down for its usual stroke whatever the down switch says. A fault that cut it short (the
presence sensor lost mid-run) dropped the doubt: that fault's reset took the down switch, a stone still on it, at
its word and said ``down`` with the arm part way up. A stop that failed at the run-on's end restarted the whole
run-on (the motor against its stop twice as long as ``motor_timeout_s`` allows), and a run-on started from the up
switch was learned as a whole stroke of ``motor_timeout_s``.
"""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, DOWN, NEV_PLATE, Rig
from tests.locks.test_lying_switch_reset import _cycles
from tests.locks.test_motor_write_failed import failing


def _switch_early_with_the_arm_lifted(rig: Rig, to: float = 0.5) -> None:
    """FAULT ``switch_early`` (a stone on the down switch), the arm then lifted (half up), unseen."""
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="NEV", operator="ops").ok
    rig.step(1.1)
    rig.inject("stick_switch", "down", True)
    rig.step(3)
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "switch_early"
    rig.inject("move_to", to)
    rig.step(1)


def test_a_fault_that_cuts_the_run_on_short_keeps_the_down_switch_in_doubt(make_rig, kind):
    """The presence sensor drops out as the run-on begins: FAULT ``presence_unknown``, the motor stopped, the arm a
    third up under the stone. Its reset said ``down`` at once: the doubt had gone with the first reset."""
    rig = make_rig(kind, position=1.0)
    _switch_early_with_the_arm_lifted(rig, 0.9)
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(0.2)
    assert rig.state == "moving" and rig.down_active()
    rig.inject("lose_presence", True)
    for _ in range(20):
        rig.step(0.1)
        if rig.state == "fault":
            break
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "presence_unknown"
    assert not rig.down_active() and rig.arm.position > 0.05
    rig.inject("lose_presence", False)
    rig.step(0.5)
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(0.5)
    assert rig.state == "moving" and rig.down_active(), (rig.state, rig.arm.position)  # before: "down", arm up
    rig.step(rig.lock_cfg.motor_timeout_s - 0.3)  # the stroke was forgotten at the first reset
    assert rig.state == "down" and rig.arm.position == 0.0 and not rig.down_active()
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.safe()


def test_a_stop_that_fails_at_the_run_on_s_end_does_not_start_it_again(make_rig):
    """The motor stop at the end of the run-on fails once (EIO): the lowering is owed and tried again — with the
    whole run-on again, the motor against its stop for another stroke. It runs only what is left: nothing."""
    rig = make_rig("gpio", position=1.0)
    _switch_early_with_the_arm_lifted(rig)
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(2.8)
    assert rig.down_active()
    failing(rig.pin(DOWN), False)  # the next stop of the DOWN line fails
    rig.step(0.5)
    rig.step(0.5)
    assert not rig.down_active(), "the run-on started again"  # before: driven down another 3 s
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_a_run_on_from_the_up_switch_is_not_learned_as_a_stroke(make_rig, kind):
    """``switches_both`` with no stroke known: the reset drives the arm from its up switch for ``motor_timeout_s``.
    That is no measure of the arm's stroke (it reached its end in 3 s) and is not learned as one."""
    rig = make_rig(kind, position=1.0)
    rig.step(1)
    rig.inject("stick_switch", "down", True)
    rig.step(1)
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "switches_both"
    rig.inject("stick_switch", "down", None)
    rig.step(0.5)
    said = len(rig.of(EventType.LOCK_MOVED))
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 0.5)
    assert rig.state == "down" and rig.arm.position == 0.0
    assert [e.data["state"] for e in rig.of(EventType.LOCK_MOVED)[said:]] == ["moving", "down"]  # each said once
    assert list(rig.manager._unit(BAY).interlock._strokes["down"]) == []  # before: [motor_timeout_s]
    rig.safe()


def test_a_restart_during_the_run_on_lowers_the_arm_again(make_rig, kind, tmp_path):
    """The agent restarts 0.5 s into the run-on (systemd, the watchdog): the fault was cleared by the reset, the
    stone still shuts the down switch, and the new run said ``down`` from the switches with the arm part way up.
    The run-on stands on disk (the lowering owed) and is driven again, for ``motor_timeout_s``: no stroke known."""
    rig = make_rig(kind, position=1.0, latches_at=tmp_path / "lock-latches.json")
    _switch_early_with_the_arm_lifted(rig, 0.9)
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(0.5)
    assert rig.state == "moving" and rig.down_active()
    rig.restart()
    rig.step(0.2)
    assert rig.state == "moving" and rig.down_active(), (rig.state, rig.arm.position)  # before: "down", arm up
    rig.step(rig.lock_cfg.motor_timeout_s)
    assert rig.state == "down" and rig.arm.position == 0.0 and not rig.down_active()
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.safe()


def test_a_run_on_cut_short_by_a_fault_is_driven_after_a_restart_and_that_fault_s_reset(make_rig, kind, tmp_path):
    """The run-on is cut short by FAULT ``presence_unknown``, then the agent restarts: the fault it restores says
    nothing of a switch, and its reset took the down switch at its word. The doubt stands on disk with the run-on."""
    rig = make_rig(kind, position=1.0, latches_at=tmp_path / "lock-latches.json")
    _switch_early_with_the_arm_lifted(rig, 0.9)
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(0.2)
    rig.inject("lose_presence", True)
    for _ in range(20):
        rig.step(0.1)
        if rig.state == "fault":
            break
    assert rig.state == "fault" and not rig.down_active() and rig.arm.position > 0.05
    rig.inject("lose_presence", False)
    rig.restart()
    rig.step(0.5)
    assert rig.state == "fault" and rig.arm.position > 0.05
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(0.5)
    assert rig.state == "moving" and rig.down_active(), (rig.state, rig.arm.position)
    rig.step(rig.lock_cfg.motor_timeout_s)
    assert rig.state == "down" and rig.arm.position == 0.0 and not rig.down_active()
    rig.safe()


def test_a_down_switch_shut_early_in_a_fault_s_lowering_is_doubted_by_its_reset(make_rig, kind):
    """FAULT ``presence_unknown`` lowers a slow arm (4.5 s on a cold morning); a stone shuts the down switch 1.1 s
    in. The lowering runs on for the usual 3 s and stops a third up; no ``switch_early`` is latched over the fault
    there is. Its reset said ``down`` at once: the early switch was forgotten."""
    rig = make_rig(kind, position=1.0)
    _cycles(rig, 3)
    rig.arm.travel_time_s = 4.5
    rig.inject("lose_presence", True)
    for _ in range(20):
        rig.step(0.1)
        if rig.state == "fault":
            break
    assert rig.state == "fault" and rig.down_active()
    rig.step(1.1)
    rig.inject("stick_switch", "down", True)
    rig.step(3)
    assert rig.state == "fault" and not rig.down_active() and rig.arm.position > 0.2
    rig.inject("lose_presence", False)
    rig.step(0.5)
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(0.5)
    assert rig.state == "moving" and rig.down_active(), (rig.state, rig.arm.position)  # before: "down"
    rig.step(3)
    assert rig.state == "down" and rig.arm.position == 0.0 and not rig.down_active()
    rig.safe()
