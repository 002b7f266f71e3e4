"""A fault's lowering of an arm that left its down end fights nothing for ever.

The lowering added by probe lock32 started at every debounced opening of the down switch during a FAULT, with no
bound but a timed-out lowering: a switch whose own flapping latched ``switch_flapping`` (the arm resting on its stop,
its contact opening for a moment over and over) started the motor down against the stop at each opening, for as
long as the fault lasted — relays clicking several times a second for hours, where before the fix nothing moved. And
a lowering that timed out latched ``motor_timeout`` without counting as the fault's timed-out lowering, so a motor
known unable to lower was driven again for another ``motor_timeout_s`` at the next opening.
"""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY
from tests.locks.test_faulted_arm_moved import faulted


def _starts(rig, since: float) -> int:  # noqa: ANN001
    return sum(1 for t, d in rig.arm.history if d == "down" and t > since)


def _flap_down_switch(rig, times: int, open_s: float, closed_s: float) -> None:  # noqa: ANN001
    for _ in range(times):
        rig.inject("stick_switch", "down", False)
        rig.step(open_s)
        rig.inject("stick_switch", "down", None)
        rig.step(closed_s)


def test_a_flapping_down_switch_does_not_run_the_motor_at_each_flap(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    _flap_down_switch(rig, 4, 0.3, 0.3)  # the arm at rest on its stop; its down contact opens and closes
    assert rig.manager._unit(BAY).interlock.fault == "switch_flapping"
    t0, said = rig.clock.monotonic(), len(rig.of(EventType.LOCK_TAMPER))
    _flap_down_switch(rig, 300, 0.3, 0.3)  # three minutes more of it
    starts = _starts(rig, t0)
    assert starts <= rig.lock_cfg.max_moves, f"{starts} motor starts against the stop in 3 minutes"
    assert len(rig.of(EventType.LOCK_TAMPER)) == said, "the switch's own flapping is no tamper"
    rig.inject("stick_switch", "down", None)
    rig.step(1)
    rig.safe()


def test_an_arm_lifted_again_and_again_during_a_fault_is_lowered_within_the_motor_duty(make_rig, kind):
    """Someone working at a faulted arm, lifting it again and again: lowered, but the motor's starts stay within
    ``max_moves`` a window, and what is said stays within them too; the last lift is still lowered once it may."""
    rig = faulted(make_rig, kind)
    t0 = rig.clock.monotonic()
    for _ in range(40):  # a lift every 6 s for 4 minutes (below the flap rule's 3 in 10 s)
        rig.inject("move_to", 0.5)
        rig.step(6)
    assert _starts(rig, t0) <= rig.lock_cfg.max_moves
    assert len(rig.of(EventType.LOCK_TAMPER)) <= rig.lock_cfg.max_moves + 1
    rig.inject("move_to", 0.5)
    rig.step(rig.lock_cfg.max_moves_window_s + rig.lock_cfg.motor_timeout_s)
    assert rig.arm.position == 0.0, "the last lift lowered once the motor may start again"
    assert rig.state == "fault"
    rig.safe()


def test_no_lowering_again_once_the_faults_own_lowering_timed_out(make_rig, kind):
    """A lowering that timed out latched ``motor_timeout``: the motor that could not lower the arm is not driven
    again when the arm is later seen leaving its down end (a reset, after a look at the arm, lowers it)."""
    rig = make_rig(kind, position=1.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.inject("stick_switch", "down", False)  # the down switch does not close: the lowering times out at the stop
    assert rig.manager.unlock(BAY, "visitor", "ops").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.state == "fault" and not rig.down_active()
    rig.inject("stick_switch", "down", None)  # it closes after all …
    rig.step(1)
    t0 = rig.clock.monotonic()
    rig.inject("stick_switch", "down", False)  # … and opens again
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert _starts(rig, t0) == 0, "a motor whose lowering timed out in this fault driven again"
    assert len([e for e in rig.of(EventType.LOCK_FAULT) if e.data.get("code") == "motor_timeout"]) == 1
    rig.safe()


def test_lowerings_asked_for_in_a_plain_motor_timeout_keep_to_the_motor_duty(make_rig, kind, caplog):
    """A stalled motor's lowering timed out (``motor_timeout``), the arm up: each later NEV or ``unlock`` drove it again
    at once, one start per request with no bound — a backend retrying every 6 s ran the stalled motor 5 s in every 6
    (probe lock35). They keep to ``max_moves`` a window now; past it the lowering waits, said once, and starts when
    the motor may if the arm is still off its down end."""
    rig = make_rig(kind, position=1.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.inject("stall")
    assert rig.manager.unlock(BAY, "visitor", "ops").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.state == "fault" and rig.arm.position == 1.0
    t0 = rig.clock.monotonic()
    replies = []
    for _ in range(30):  # three minutes of a backend's retries
        replies.append(rig.manager.unlock(BAY, "visitor", "backend"))
        rig.step(6)
    starts = _starts(rig, t0)
    assert starts <= rig.lock_cfg.max_moves - 1, f"{starts} starts of a stalled motor in 3 minutes"  # before: 30
    assert all(d.ok for d in replies) and "max_moves" in replies[-1].message
    waits = [r for r in caplog.records if "waits" in r.getMessage() and "max_moves" in r.getMessage()]
    assert len(waits) == 1, [r.getMessage() for r in waits]
    owed = rig.manager.lock_notes()[BAY].lowering_in_s
    assert owed is not None and owed > 0  # the page says when
    rig.inject("stall", False)  # the motor works again: the held lowering starts once it may
    rig.step(rig.lock_cfg.max_moves_window_s)
    assert rig.arm.position == 0.0 and rig.state == "fault"
    rig.safe()
