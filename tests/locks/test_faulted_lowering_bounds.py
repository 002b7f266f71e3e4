"""A faulted arm's lowering asked for says the truth and keeps the motor's bounds (review44).

Three ways a lowering asked for in a FAULT (an NEV's, ``unlock``, maintenance) was answered "lowering" and not done,
or done past ``motor_timeout_s``:

- both limit switches active (``switches_both``: a stone on the down switch, the arm up): answered "lowering for 3s",
  and the motor stopped at the next check (position unknown: motor off) — the arm left up in front of the NEV;
- a reset during such a lowering started the run-on again from its beginning: the motor drove on, unbroken, for
  2.8 s + 3.1 s against the down stop, past ``motor_timeout_s`` (5 s);
- the policy's lowering for an NEV in a fault whose lowering timed out (a stalled motor), the arm off its down end:
  driven again for ``motor_timeout_s`` at each NEV — after a restart too, which the saved ``lowering_timed_out``
  was meant to spare it. An operator's ``unlock`` still tries again, as a reset does.

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, NEV_PLATE, Rig
from tests.locks.test_lying_switch_lowering import _stone_then_lift
from tests.locks.test_unwatched import _cycles


def _down_runs(rig: Rig, seconds: float) -> tuple[float, float]:
    """The longest unbroken drive of the DOWN line, and its whole time on, over ``seconds`` (rounded to 0.1 s)."""
    run = longest = total = 0.0
    for _ in range(round(seconds / 0.1)):
        rig.step(0.1)
        on = rig.down_active()
        run = run + 0.1 if on else 0.0
        longest, total = max(longest, run), total + (0.1 if on else 0.0)
    return round(longest, 1), round(total, 1)


def test_both_switches_active_is_no_lowering(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    _cycles(rig, 3)
    assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
    rig.step(4)
    rig.inject("stick_switch", "down", True)  # a stone on the down switch, the arm up
    rig.step(1)
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "switches_both"
    d = rig.manager.unlock(BAY, reason="NEV", operator="ops")
    # before: ok, "lowering for 3.1s", and on the pins the motor stopped at the next check, the arm still up
    assert not d.ok and d.data["code"] == "down_unconfirmed" and "both limit switches" in d.message, d
    assert _down_runs(rig, 5) == (0.0, 0.0) and rig.arm.position == 1.0
    rig.safe()


def test_a_reset_during_the_lowering_does_not_start_its_run_on_again(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    _stone_then_lift(rig)
    assert rig.manager.unlock(BAY, reason="NEV", operator="ops").ok  # driven 3 s whatever the stone says
    rig.step(2.8)
    assert rig.down_active()
    assert rig.manager.reset(BAY, operator="ops").ok
    longest, _ = _down_runs(rig, 8)
    assert longest <= 0.5, longest  # before: 3.1 more, unbroken: 5.9 s on the DOWN line (motor_timeout_s 5)
    assert rig.arm.position == 0.0 and rig.state == "down"
    rig.safe()


def test_a_stalled_motor_is_not_driven_again_by_an_nev(make_rig, kind, tmp_path):
    """The policy's lowering for an NEV (no operator) does not drive a motor whose lowering timed out in this fault,
    before a restart or after it; an operator's ``unlock`` tries again (``test_faults``), as a reset does."""
    rig = make_rig(kind, position=1.0, latches_at=tmp_path / "lock-latches.json")
    rig.step(1)
    rig.inject("stall")
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(7)
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "motor_timeout"
    for restart in (False, True):
        if restart:
            rig.restart()
        rig.vehicle_arrives(NEV_PLATE, nev=True)
        assert _down_runs(rig, 7) == (0.0, 0.0)  # before: 4.9 s against the stall for each NEV
        rig.vehicle_leaves()
        rig.step(1)
    rig.inject("stall", False)  # repaired: the operator's unlock lowers it
    d = rig.manager.unlock(BAY, reason="after repair", operator="ops")
    assert d.ok, d
    rig.step(4)
    assert rig.arm.position == 0.0 and rig.state == "fault"
    rig.safe()
