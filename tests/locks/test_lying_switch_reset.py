"""A reset after a fault that says a limit switch lies does not take the down switch's word (probe lock33).

``switch_early``, ``switches_both`` and ``switch_flapping`` each say a switch of this lock reads what the arm is not
doing: a stone or ice on its lever, a switch stuck shut, a wire chafed to ground. A reset found the down switch shut
and declared the arm down without moving it, so an arm the fault left (or someone left) half up, under a down switch
still shut, was called ``down``: an NEV admitted over it, a car driven into it. Such a reset runs the motor down for
the arm's usual stroke (at most ``motor_timeout_s``; down is always safe) before it says ``down``.

Each test runs the lock stage on gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``),
on a fake clock, and ends with the rig's invariant: the UP output never on while a vehicle may be there.
"""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, NEV_PLATE, Rig
from tests.locks.test_unwatched import _cycles  # n whole strokes each way: what the arm's stroke is learned from


def _fault(rig: Rig) -> str:
    return rig.of(EventType.LOCK_FAULT)[-1].data["code"]


def _reset_lowers_for_the_stroke(rig: Rig, stroke_s: float) -> None:
    """The reset answers, the lock says ``moving`` (not ``down``) and drives the arm down under its shut down switch
    for ``stroke_s``; then it says ``down``, the arm at its end and the motor off. An NEV is admitted only then."""
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(0.5)
    assert rig.state == "moving" and rig.down_active(), (rig.state, rig.arm.position)  # before: "down", arm half up
    rig.step(stroke_s - 0.3)
    assert rig.state == "down" and not rig.down_active()
    assert rig.arm.position == 0.0
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_a_reset_after_switch_early_lowers_the_arm_under_a_down_switch_still_shut(make_rig, kind):
    """A stone presses the down switch 1.1 s into a 3 s lowering: the motor runs on for the stroke, FAULT
    ``switch_early``. The stone stays. Someone at the arm lifts it half up (or a brake lets go): the down switch,
    still shut, does not see it. The operator resets: the reset found the down switch shut and said ``down``, the
    arm half up, and the next NEV was admitted over it ("already down")."""
    rig = make_rig(kind, position=1.0)
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="NEV", operator="ops").ok
    rig.step(1.1)
    rig.inject("stick_switch", "down", True)  # the stone
    rig.step(3)
    assert rig.state == "fault" and _fault(rig) == "switch_early" and rig.arm.position == 0.0
    rig.inject("move_to", 0.5)  # lifted half up: nothing the switches can see
    rig.step(2)
    assert rig.arm.position == 0.5
    _reset_lowers_for_the_stroke(rig, 3.0)  # the usual stroke, learned before the fault


def test_a_slow_arm_left_short_by_switch_early_is_lowered_by_the_reset(make_rig, kind):
    """A cold morning, a sagging supply: the arm now takes 4.5 s. A down switch shut 1.1 s into the lowering lets
    the motor run on for the usual 3 s only, and the arm stops a third up under a switch that says down. FAULT
    ``switch_early``; the reset said ``down`` without moving it."""
    rig = make_rig(kind, position=1.0)
    _cycles(rig, 3)
    rig.arm.travel_time_s = 4.5
    assert rig.manager.unlock(BAY, reason="NEV", operator="ops").ok
    rig.step(1.1)
    rig.inject("stick_switch", "down", True)
    rig.step(3)
    assert rig.state == "fault" and _fault(rig) == "switch_early" and 0.3 < rig.arm.position < 0.4
    _reset_lowers_for_the_stroke(rig, 3.0)


def test_a_reset_after_a_restart_in_switch_early_lowers_for_motor_timeout_s(make_rig, kind, tmp_path):
    """The fault is saved, the agent restarts (the strokes it learned are gone with the process), the arm half up
    under the stone. The reset does not know the usual stroke: it lowers for ``motor_timeout_s``, the longest any
    stroke may take."""
    rig = make_rig(kind, position=1.0, latches_at=tmp_path / "lock-latches.json")
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="NEV", operator="ops").ok
    rig.step(1.1)
    rig.inject("stick_switch", "down", True)
    rig.step(3)
    assert rig.state == "fault" and _fault(rig) == "switch_early"
    rig.inject("move_to", 0.5)
    rig.restart()
    # the restored fault's safe position: its down switch read shut where the last run's proven switches left the arm
    # up (the early stroke proved nothing), so the start drives it down for motor_timeout_s (review49; before: left
    # half up until the reset)
    rig.step(rig.lock_cfg.motor_timeout_s + 0.5)
    assert rig.state == "fault" and rig.arm.position == 0.0 and not rig.down_active()
    rig.inject("move_to", 0.5)  # lifted again under the stone
    rig.step(1)
    assert rig.state == "fault" and rig.arm.position == 0.5
    _reset_lowers_for_the_stroke(rig, rig.lock_cfg.motor_timeout_s)


def test_a_reset_after_switches_both_lowers_an_arm_that_left_its_up_switch(make_rig, kind):
    """A stone on the down switch of an arm at rest down; the next rise reaches the up switch: both shut, FAULT
    ``switches_both``, the arm up. It sags off its up switch (a brake letting go, a hand on it): the switches read
    ``down`` only, the cause is gone, and the reset declared the arm down — standing up in front of the next car."""
    rig = make_rig(kind, position=1.0)
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(4)
    rig.inject("stick_switch", "down", True)  # the stone, the arm at rest down
    assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
    rig.step(4)
    assert rig.state == "fault" and _fault(rig) == "switches_both" and rig.arm.position == 1.0
    rig.inject("move_to", 0.8)  # off its up switch: the switches say "down"
    rig.step(1)
    _reset_lowers_for_the_stroke(rig, 3.0)


def test_a_reset_after_switch_flapping_lowers_an_arm_its_down_switch_cannot_see(make_rig, kind):
    """A down switch's wire chafes and its reading flaps at rest: FAULT ``switch_flapping``. A technician lifts the
    arm half up while the chafed wire happens to read shut, and resets: the reset declared the arm down."""
    rig = make_rig(kind, position=0.0)
    rig.step(1)
    assert rig.state == "down"
    for _ in range(3):
        rig.inject("stick_switch", "down", False)
        rig.step(0.3)
        rig.inject("stick_switch", "down", True)
        rig.step(0.3)
    rig.step(2)
    assert rig.state == "fault" and _fault(rig) == "switch_flapping"
    rig.inject("move_to", 0.5)
    rig.step(1)
    assert rig.arm.position == 0.5
    _reset_lowers_for_the_stroke(rig, rig.lock_cfg.motor_timeout_s)  # no whole stroke seen: motor_timeout_s


def test_a_reset_after_a_fault_that_doubts_no_switch_takes_the_down_switch_at_its_word(make_rig, kind):
    """``arm_drift`` says the arm will not stay up; the lowering it latched ended at the down switch, which nothing
    doubts. Its reset says ``down`` at once, the motor not driven against the stop."""
    rig = make_rig(kind, position=1.0, policy={"auto_raise": False})
    rig.step(1)
    for _ in range(3):
        rig.inject("move_to", 0.9)  # sags off its up switch, no vehicle seen
        rig.step(4)
        if rig.state == "fault":
            break
        rig.watch_free()
        assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
        rig.step(4)
    assert rig.state == "fault" and _fault(rig) == "arm_drift" and rig.arm.position == 0.0
    assert rig.manager.reset(BAY, operator="ops").ok
    assert rig.state == "down" and not rig.down_active()
    rig.safe()


def test_a_restored_faults_run_on_cut_short_by_a_latched_tick_failed_runs_on(make_rig, kind, tmp_path):
    """The restart's run-on of the arm half up under the stone (review49); the lock's tick fails three times on the
    way (tick_failed latched over the fault). The lowering owed is what is left of that run-on: it was resumed as a
    plain lowering, which stopped at once at the shut down switch and saved the rest ``down`` — the arm left part way
    up, and no later start drove it (review50)."""
    path = tmp_path / "lock-latches.json"
    rig = make_rig(kind, position=1.0, latches_at=path)
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="NEV", operator="ops").ok
    rig.step(1.1)
    rig.inject("stick_switch", "down", True)
    rig.step(3)
    assert rig.state == "fault" and _fault(rig) == "switch_early"
    rig.inject("move_to", 0.5)
    rig.restart()
    rig.step(0.5)
    driver = rig.manager.driver(BAY)
    driver.read_switches = lambda: (_ for _ in ()).throw(OSError(5, "Input/output error"))
    rig.step(0.5)
    assert _fault(rig) == "tick_failed"
    del driver.read_switches  # the driver's reads work again
    rig.step(rig.lock_cfg.motor_timeout_s + 0.5)
    assert rig.arm.position == 0.0, rig.arm.position  # before: 0.3, its rest saved "down"
    assert not rig.down_active()
    rig.safe()
