"""A motor line write that fails at run time (the GPIO chip's I/O error, a line released under the agent).

The lowering a rise aborted for a car was dropped when its write failed on the camera loop's thread (the evidence
changed just as ``reverse_delay_s`` ran out): the arm stayed half up in front of the car, the lock said ``moving``
for ever with no fault, and the error went on into the camera loop, which it ended. A rise whose write failed
after switching its line left the motor driving up with nothing watching for a car.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from edge_agent.events.types import EventType
from tests.locks.conftest import DOWN, NEV_PLATE, UP, Rig


def failing(pin: Any, level: bool, times: int | None = 1, after: bool = False) -> None:
    """Writes of ``level`` to ``pin`` raise EIO (``times``: how many; None: all); ``after``: the line switches first."""
    orig, left = pin._set_state, [times]

    def set_state(value: Any) -> None:
        if bool(value) == level and (left[0] is None or left[0] > 0):
            if left[0] is not None:
                left[0] -= 1
            if after:
                orig(value)
            raise OSError(5, "Input/output error")
        orig(value)

    pin._set_state = set_state


def rise_aborted_by_the_camera(rig: Rig) -> None:
    """Half way up, a car noses in: the camera's evidence stops the rise; the lowering waits ``reverse_delay_s``,
    which runs out as the camera's evidence changes again (its thread, before the lock's tick)."""
    rig.watch_free()
    assert rig.manager.lock("B1", reason="test raise", operator="ops").ok
    rig.step(1.5)
    assert rig.up_active() and 0.0 < rig.arm.position < 1.0
    rig.see(occupied=True, p_occupied=0.9)
    assert not rig.up_active() and rig.of(EventType.LOCK_REFUSED)
    rig.clock.advance(rig.lock_cfg.reverse_delay_s + 0.05)
    rig.sync()
    rig.see(p_occupied=0.95)  # the lowering is due now, on this thread: its DOWN write fails; nothing raised here


def _read_fails_once(pins: Any) -> None:
    """The driver's next read of the switches raises ``EIO`` once (a bad moment on the GPIO chip), then reads again."""
    real, calls = pins.read_switches, [0]

    def once() -> object:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError(5, "Input/output error")
        return real()

    pins.read_switches = once


def test_a_lowering_whose_write_fails_is_retried(make_rig):
    rig = make_rig("gpio", position=0.0)
    failing(rig.pin(DOWN), True)
    rise_aborted_by_the_camera(rig)
    assert not rig.down_active() and rig.arm.position > 0.3
    rig.step(0.1)  # the lock's tick: the lowering was still owed
    assert rig.down_active()
    rig.step(3)
    assert rig.arm.position == 0.0 and rig.state == "down"
    assert not rig.of(EventType.LOCK_FAULT)
    rig.safe()


def test_a_lowering_that_keeps_failing_is_a_fault(make_rig):
    rig = make_rig("gpio", position=0.0)
    failing(rig.pin(DOWN), True, times=None)
    rise_aborted_by_the_camera(rig)
    rig.step(1)
    faults = [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)]
    assert faults == ["tick_failed"], "an arm stuck half up must be said, not left 'moving' for ever"
    assert rig.state == "fault" and not rig.up_active()
    assert not rig.violations


def test_a_rise_whose_write_fails_leaves_no_motor_on(make_rig):
    rig = make_rig("gpio", position=1.0)
    # down by an unlock, the bay watched free as every raise needs (review74): the admit window keeps the policy's own
    # raise away, so that what moves next is the command's (an arm down from the start would be raised by the policy
    # at the very instant the watch ends)
    assert rig.manager.unlock("B1", reason="an NEV", operator="app").ok
    rig.step(4)
    rig.watch_free()
    failing(rig.pin(UP), True, after=True)  # the relay switched, the write said it failed
    with pytest.raises(OSError):
        rig.manager.lock("B1", reason="test raise", operator="ops")
    assert not rig.up_active(), "a motor the interlock does not know it drives rises unwatched"
    rig.step(1)
    assert rig.arm.position == 0.0 and rig.state == "down"
    assert rig.manager.lock("B1", reason="again", operator="ops").ok  # the line works again: a watched rise
    rig.step(3.5)
    assert rig.state == "up"
    assert not rig.violations


def test_an_nevs_lowering_whose_write_fails_is_retried(make_rig):
    """The NEV's lowering is started on the bus's thread (the ``vehicle_identified`` event), not the lock's tick: its
    failed write was dropped (the bus logs a subscriber's error and goes on) — the arm stayed up in front of the NEV,
    the lock said ``up`` with no fault, and nothing ever tried again."""
    rig = make_rig("gpio", position=1.0)
    rig.step(1)
    assert rig.state == "up"
    failing(rig.pin(DOWN), True)
    rig.vehicle_arrives(NEV_PLATE, nev=True)  # the lowering is owed: the event's own check tries it again
    rig.step(0.1)  # (or the lock's tick)
    assert rig.down_active()
    rig.step(4)
    assert rig.arm.position == 0.0 and rig.state == "down"
    assert not rig.of(EventType.LOCK_FAULT)
    rig.safe()


def test_a_faults_lowering_whose_write_fails_off_the_tick_is_retried(make_rig):
    """A fault that lowers (here the presence sensor lost, found by a check the camera's evidence ran) whose DOWN
    write fails: the fault was said, but the arm stayed up for good — nothing owed, so no tick retried it and none
    failed (no ``tick_failed`` either)."""
    rig = make_rig("gpio", position=1.0)
    rig.step(1)
    assert rig.state == "up"
    failing(rig.pin(DOWN), True)
    rig.inject("lose_presence")  # the health line drops: pending for presence.stale_s, then lost
    rig.clock.advance(rig.lock_cfg.presence.stale_s + 0.1)
    rig.see(p_occupied=0.1)  # the camera's thread judges first: the fault, its lowering's write fails
    assert rig.state == "fault" and not rig.down_active()
    rig.step(0.1)
    assert rig.down_active(), "the fault's lowering is owed: the tick tries again"
    rig.step(4)
    assert rig.arm.position == 0.0
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)] == ["presence_unknown"]
    rig.safe()


def test_a_driver_that_keeps_failing_is_logged_once_not_at_every_measurement(make_rig, caplog):
    """The camera's evidence changes at nearly every classification (``p_occupied``, twice a second): a lock whose
    driver fails for good (its GPIO chip gone) logged a traceback at each, on top of its one ``tick_failed``."""
    rig = make_rig("gpio", position=0.0)
    rig.step(1)
    pins = rig.manager.driver("B1")
    pins.read_switches = lambda: (_ for _ in ()).throw(OSError(5, "Input/output error"))  # the chip gone
    with caplog.at_level(logging.DEBUG, logger="edge_agent.locks.manager"):
        for k in range(40):
            rig.see(p_occupied=0.01 * (k % 7))
            rig.step(0.1)
    judged = [r for r in caplog.records if r.name == "edge_agent.locks.manager" and r.levelno >= logging.WARNING]
    assert len(judged) == 1 and judged[0].exc_info, [r.getMessage() for r in judged]
    assert rig.state == "fault" and [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)] == ["tick_failed"]


def test_one_failed_write_on_the_tick_is_retried_not_latched(make_rig):
    """The lowering after a rise the camera stopped falls due on the lock's tick, and its DOWN write fails once (a
    transient ``EIO``). The first failure latched ``tick_failed`` and dropped the lowering: the arm stayed half up in
    front of the car that had stopped its rise, until an operator came to reset it."""
    rig = make_rig("gpio", position=0.0)
    failing(rig.pin(DOWN), True)
    rig.watch_free()
    assert rig.manager.lock("B1", reason="test raise", operator="ops").ok
    rig.step(1.5)
    half = rig.arm.position
    assert 0.0 < half < 1.0
    rig.see(occupied=True, p_occupied=0.9)  # a car noses in: the rise stops
    assert not rig.up_active()
    rig.step(rig.lock_cfg.reverse_delay_s + 0.2)  # the lowering falls due on the tick: its write fails once
    rig.step(4)
    assert rig.arm.position == 0.0 and rig.state == "down", (half, rig.arm.position, rig.state)
    assert not rig.of(EventType.LOCK_FAULT)
    assert not rig.violations


def test_a_policy_raise_whose_write_fails_once_is_no_fault(make_rig):
    """The policy's raise runs on the tick: one failed UP write latched ``tick_failed``, a FAULT needing an operator at
    the bay, for one transient error. It is tried again at the next tick, on the evidence of then."""
    rig = make_rig("gpio", position=0.0)
    rig.step(1)
    failing(rig.pin(UP), True)
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up" and rig.arm.position == 1.0
    assert not rig.of(EventType.LOCK_FAULT)
    assert not rig.violations


def test_an_unlock_whose_write_fails_keeps_its_admit_window(make_rig):
    """A remote ``unlock`` for a visitor whose DOWN write fails once: the command was answered with an error, the
    controller noted no admission, and the tick's retry lowered the arm only for the policy to raise it again at once
    ("bay free for 30s"): the visitor never got in. The lowering is accepted (owed, tried again) and the admit window
    runs from it."""
    rig = make_rig("gpio", position=1.0)
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up"
    failing(rig.pin(DOWN), True)
    res = rig.manager.unlock("B1", reason="visitor", operator="ops")
    assert res.ok, res
    rig.step(rig.lock_cfg.admit_window_s - 5)
    assert rig.state == "down" and rig.arm.position == 0.0, "the visitor's admit window was cut short"
    rig.step(10)
    assert rig.state == "up"  # nobody came: up again at the window's end
    assert not rig.of(EventType.LOCK_FAULT)
    assert not rig.violations


def test_a_rise_cut_short_by_one_failed_read_is_lowered_not_latched(make_rig):
    """One read of the switches that fails on the tick mid-rise (a transient ``EIO``): the motor stops there. It
    latched ``tick_failed`` with the arm half up, for good, until an operator came; now the rise cut short is lowered
    as an aborted one, and the policy may raise it again, watched, on the evidence of then."""
    rig = make_rig("gpio", position=0.0)
    rig.watch_free()
    assert rig.manager.lock("B1", reason="test raise", operator="ops").ok
    rig.step(1.5)
    assert rig.up_active() and 0.0 < rig.arm.position < 1.0
    pins = rig.manager.driver("B1")
    _read_fails_once(pins)
    rig.step(0.1)
    assert not rig.up_active() and rig.state == "moving"
    # lowered to its end within 4 s; watched there, not at 4 s: the bay has been watched free since before the rise
    # (review74), so the policy's own raise is due and may start again once the arm is down
    for _ in range(40):
        rig.step(0.1)
        if rig.state == "down":
            break
    assert rig.arm.position == 0.0 and rig.state == "down", (rig.arm.position, rig.state)
    assert not rig.of(EventType.LOCK_FAULT)
    assert any(e.data.get("safety") for e in rig.of(EventType.LOCK_MOVED)), "the lowering is the interlock's own"
    assert not rig.violations


def test_a_stop_whose_write_fails_is_tried_again_before_anything_else(make_rig):
    """Mid-rise, one tick's read fails and so does the stop's write of the UP line (one bad moment on the GPIO chip):
    the rise was no longer the lock's motion, so nothing watched the motor, which drove the arm on up for
    ``reverse_delay_s`` — over a car that nosed in meanwhile — until the lowering began. A line the interlock drives with
    no motion of its own is switched off at the next check."""
    rig = make_rig("gpio", position=0.0, reverse_delay_s=1.0)
    rig.watch_free()
    assert rig.manager.lock("B1", reason="test raise", operator="ops").ok
    rig.step(1.0)
    assert rig.up_active()
    pins = rig.manager.driver("B1")
    _read_fails_once(pins)
    failing(rig.pin(UP), False)  # the stop's write of the UP line fails once too
    rig.step(0.1)
    rig.set_vehicle(True)  # a car noses in
    rig.step(0.1)
    assert not rig.up_active(), "a motor driven up that nothing watches"
    rig.step(3)
    assert rig.arm.position == 0.0 and not rig.of(EventType.LOCK_FAULT)
    assert not rig.violations


def test_a_driver_failing_every_few_seconds_is_a_fault_not_a_rise_cut_short_for_ever(make_rig):
    """A GPIO chip whose read fails once every 5 s (never 3 times within 10 s): each failure cut the policy's rise short,
    the arm lowered and rose again, and the next failure cut that one short too — the bay never guarded, the motor run
    until ``max_moves`` held it, and no fault: only ``tick_failed`` says the driver is failing. Counted over a minute,
    such a driver latches it; one transient error still does not."""
    rig = make_rig("gpio", position=0.0)
    rig.step(1)
    pins = rig.manager.driver("B1")
    real, last = pins.read_switches, [rig.clock.monotonic()]

    def every_5s() -> object:
        if rig.clock.monotonic() - last[0] >= 5.05:
            last[0] = rig.clock.monotonic()
            raise OSError(5, "Input/output error")
        return real()

    pins.read_switches = every_5s
    rig.step(rig.lock_cfg.auto_raise_delay_s + 60)
    cut = [e for e in rig.of(EventType.LOCK_MOVED) if "supervision failed" in e.data.get("reason", "")]
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)] == ["tick_failed"], (len(cut), rig.state)
    assert not rig.violations


def _latched_half_up(make_rig: Any) -> Rig:
    """A lock latched ``tick_failed`` half up (a car nosed in mid-rise, the lowering's writes kept failing), its
    driver then mended."""
    rig = make_rig("gpio", position=0.0)
    mended = rig.pin(DOWN)._set_state
    failing(rig.pin(DOWN), True, times=None)
    rig.watch_free()
    assert rig.manager.lock("B1", reason="test raise", operator="ops").ok
    rig.step(1.5)
    rig.see(occupied=True, p_occupied=0.9)  # a car noses in; the lowering's write keeps failing: latched
    rig.step(2)
    assert rig.manager.status()["B1"]["fault"] == "tick_failed" and 0.0 < rig.arm.position < 1.0
    rig.pin(DOWN)._set_state = mended
    return rig


def test_a_reset_whose_lowering_write_fails_is_accepted_and_owed(make_rig):
    """An operator's reset of a lock latched half up, whose lowering's DOWN write fails once: the reset cleared the
    fault, then answered with the error, and the lock was left saying ``fault`` with no fault (status: state fault,
    fault None) until the tick's retry. As ``unlock``'s lowering: accepted, owed, and said as a lowering."""
    rig = _latched_half_up(make_rig)
    failing(rig.pin(DOWN), True)  # the driver mended, but for one more bad write
    res = rig.manager.reset("B1", operator="ops")
    assert res.ok, res
    st = rig.manager.status()["B1"]
    assert (st["state"], st["fault"]) == ("moving", None), st
    rig.step(3)
    assert rig.arm.position == 0.0 and rig.state == "down"
    assert not rig.violations


def test_a_reset_whose_motor_stop_fails_is_accepted_and_owed(make_rig):
    """An operator's reset of a lock latched half up (its writes failing), whose own stop's write fails once more: the
    reset cleared the fault and its saved latch, then answered with the error before its lowering — the lock said
    ``fault`` with no fault, nothing owed, the policy (which waits for ``down``) never moved it: the arm stayed half up
    for good with no fault on record. As a failed lowering's write: accepted, owed, said as a lowering."""
    rig = _latched_half_up(make_rig)
    failing(rig.pin(UP), False)  # the reset's stop: its write of the UP line fails once
    res = rig.manager.reset("B1", operator="ops")
    assert res.ok, res
    st = rig.manager.status()["B1"]
    assert (st["state"], st["fault"]) == ("moving", None), st
    rig.step(3)
    assert rig.arm.position == 0.0 and rig.state == "down", (rig.arm.position, rig.state)
    assert not rig.violations


def test_an_unlock_while_a_stop_keeps_failing_is_accepted_and_owed(make_rig):
    """Mid-rise the tick's read fails and the stop's write of the UP line fails twice: the check an ``unlock`` runs
    first switches that line off before anything else, and its failed write answered the visitor's ``unlock`` with the
    error — no admit window, so once the tick's retry had lowered the arm the policy raised it again in front of them
    (the bay long free). A lowering is owed whatever the check met, and accepted."""
    rig = make_rig("gpio", position=0.0, reverse_delay_s=1.0)
    rig.step(rig.lock_cfg.auto_raise_delay_s - 5)  # the bay long free: the policy's raise is due once the arm is down
    rig.watch_free()
    assert rig.manager.lock("B1", reason="test raise", operator="ops").ok
    rig.step(1.0)
    assert rig.up_active()
    pins = rig.manager.driver("B1")
    _read_fails_once(pins)
    failing(rig.pin(UP), False, times=2)  # the tick's stop, then the unlock's check's stop
    rig.step(0.1)
    res = rig.manager.unlock("B1", reason="visitor", operator="ops")
    assert res.ok, res
    rig.step(rig.lock_cfg.admit_window_s - 5)
    assert rig.state == "down" and rig.arm.position == 0.0, "the visitor's admit window was cut short"
    assert not rig.violations


def test_both_motor_lines_left_on_are_switched_off(make_rig):
    """Both direction lines on at once (a shoot-through through an H-bridge, two relays fighting) has no direction:
    the driver's ``motor`` says None, and the interlock took it for stopped — the lines were never switched off,
    though its own writes never make it and only failed ones can leave it (probe lock31)."""
    rig = make_rig("gpio", position=0.0)
    rig.step(0.5)
    assert rig.state == "down"
    rig.pin(UP).state, rig.pin(DOWN).state = True, True  # what two failed writes can leave behind
    rig.step(0.1)
    assert not rig.up_active() and not rig.down_active(), "both lines on read as stopped and were left on"
    rig.safe()


def test_a_tick_failed_latched_with_the_arm_up_lowers_it_once_the_driver_works(make_rig):
    """Every FAULT's safe position is down. ``tick_failed`` latched while the arm rested up (its switch reads failing
    three times in a minute between moves) owed nothing: the arm stood up, the lock in FAULT, in front of the next car
    that wanted in, though the driver read again a moment later (probe lock31)."""
    rig = make_rig("gpio", position=1.0)
    rig.step(1)
    assert rig.state == "up"
    pins = rig.manager.driver("B1")
    real, fails = pins.read_switches, [3]

    def three_fail() -> object:
        if fails[0] > 0:
            fails[0] -= 1
            raise OSError(5, "Input/output error")
        return real()

    pins.read_switches = three_fail
    rig.step(0.3)  # three ticks fail: latched
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)] == ["tick_failed"]
    rig.step(4)  # the driver reads again: the fault's safe position is taken
    assert rig.arm.position == 0.0 and rig.manager.status()["B1"]["fault"] == "tick_failed"
    rig.safe()
