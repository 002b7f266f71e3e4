"""A motor whose lines are swapped (up ↔ down in the wiring or the config) is caught at its first move and not driven
again (probe lock35).

An arm found between its switches at start with a car over it latched ``position_unknown`` and was "lowered": the
swapped motor raised it over the car and pushed it against the up stop until ``motor_timeout_s`` (5 s), and each
later lowering (an NEV's, an ``unlock``) drove it up again. A move that reaches the OTHER end's switch now stops
there at once, FAULT ``motor_reversed``, and no lowering drives that motor until a reset.

On gpiozero's MockFactory pins (the config's motor pins swapped) and on the simulator (its arm's motor reversed),
on a fake clock (``tests/locks/conftest.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_agent.events.types import EventType
from edge_agent.locks.interlock import REVERSED_HOLD_S
from tests.locks.conftest import BAY, DOWN, NEV_PLATE, SW_DOWN, SW_UP, UP, Rig

SWAPPED = {"kind": "relays", "up": {"pin": DOWN}, "down": {"pin": UP}}  # the installer's mistake, in the config


def swapped_rig(make_rig: Any, kind: str, position: float, latches_at: Path | None = None) -> Rig:
    """A lock whose motor turns the arm the wrong way, not started yet."""
    if kind == "gpio":
        return make_rig(kind, position=position, start=False, latches_at=latches_at, motor=SWAPPED)
    rig = make_rig(kind, position=position, start=False, latches_at=latches_at)
    rig.arm.reverse_motor()
    return rig


def _up_driven_s(rig: Rig, seconds: float) -> float:
    """Seconds the arm was driven up (its physical motion, whatever line the agent switched) over ``seconds``."""
    driven = 0.0
    for _ in range(round(seconds / 0.1)):
        rig.step(0.1)
        driven += 0.1 if rig.up_active() else 0.0
    return driven


def _codes(rig: Rig) -> list[str]:
    return [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)]


def test_a_swapped_motor_found_between_the_switches_with_a_car_stops_at_the_up_switch(make_rig, kind):
    rig = swapped_rig(make_rig, kind, position=0.5)
    rig.set_vehicle(True)
    rig.start()
    pushed = _up_driven_s(rig, 8)
    assert _codes(rig) == ["position_unknown", "motor_reversed"], _codes(rig)  # before: position_unknown, motor_timeout
    # the lowering raised it (nothing between the switches tells), but the motor stopped at the up switch: 1.5 s (the
    # half stroke), the hold and a tick, where it pushed the arm against the stop and the car until motor_timeout_s
    assert pushed <= 0.5 * rig.lock_cfg.simulator.travel_time_s + REVERSED_HOLD_S + 0.2, pushed  # before: 5.0
    assert rig.state == "fault" and not rig.up_active() and not rig.down_active()
    # nothing drives it again: an NEV's lowering, an unlock, the next minutes
    t0 = rig.clock.monotonic()
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    d = rig.manager.unlock(BAY, reason="visitor", operator="ops")
    assert not d.ok and d.data["code"] == "down_unconfirmed" and "wrong way" in d.message, d
    assert _up_driven_s(rig, 30) == 0.0
    assert not [t for t, drive in rig.arm.history if t > t0 and drive is not None]
    note = rig.manager.lock_notes()[BAY]
    assert note.fault == "motor_reversed"
    assert not rig.manager.lock(BAY, "close", "ops").ok


def test_a_swapped_motor_lowering_from_up_is_a_plain_timeout_and_a_rise_from_down_goes_nowhere(make_rig, kind):
    """What the switches cannot tell: a swapped motor at an end drives the arm against that end's stop — a
    lowering from up times out (``motor_timeout``, no reversal seen), a rise from down too, the arm down."""
    rig = swapped_rig(make_rig, kind, position=0.0)
    rig.start()
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert _codes(rig) == ["motor_timeout"] and rig.arm.position == 0.0
    rig.safe()


def test_a_swapped_motor_is_not_driven_by_a_restart_and_a_reset_proves_the_wiring_again(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = swapped_rig(make_rig, kind, position=0.5, latches_at=path)
    rig.start()
    rig.step(3)
    assert rig.state == "fault" and rig.arm.position == 1.0
    assert json.loads(path.read_text())["locks"]["L1"]["fault"]["code"] == "motor_reversed"
    rig.restart()
    assert rig.of(EventType.LOCK_FAULT)[-1].data["restored"] is True
    assert _up_driven_s(rig, 8) == 0.0 and rig.arm.drive is None  # before the fix too; the down line stays off
    assert not rig.manager.unlock(BAY, reason="visitor", operator="ops").ok
    # the installer swaps the wires back; the reset lowers the arm, watched the same way
    rig.arm.reverse_motor(False) if kind == "sim" else None
    if kind == "gpio":  # the config's pins swapped back (a restart: lock changes need one), then the reset
        rig.close()
        rig = make_rig(kind, position=1.0, latches_at=path)
        assert rig.state == "fault"
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(4)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_a_right_way_motor_is_no_reversal_through_a_lifetime_of_moves(make_rig, kind):
    """Whole strokes, a rise aborted for a car, a start between the switches: the other end's switch is left, never
    reached again."""
    rig = make_rig(kind, position=0.5)
    rig.step(3)
    assert rig.arm.position == 0.0 and _codes(rig) == ["position_unknown"]
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    for _ in range(3):
        rig.watch_free()
        assert rig.manager.lock(BAY, "close", "ops").ok
        rig.step(4)
        assert rig.state == "up"
        assert rig.manager.unlock(BAY, "open", "ops").ok
        rig.step(4)
        assert rig.state == "down"
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(1)
    rig.set_vehicle(True)
    rig.step(4)
    assert rig.arm.position == 0.0 and _codes(rig) == ["position_unknown"]
    rig.safe()


def test_swapped_end_switches_read_the_same_and_stop_the_arm_at_the_bottom(make_rig):
    """The end switches' pins swapped instead: the start's lowering from between them reaches the bottom, read as the
    up switch — stopped there (the safe end), ``motor_reversed``; before, the motor pushed against the down stop until
    ``motor_timeout_s`` and nothing said which way round the lock was wired."""
    rig = make_rig("gpio", position=0.5, start=False, switches={"down": {"pin": SW_UP}, "up": {"pin": SW_DOWN}})
    rig.set_vehicle(True)
    rig.start()
    rig.step(3)
    assert _codes(rig) == ["position_unknown", "motor_reversed"], _codes(rig)
    assert rig.arm.position == 0.0 and rig.arm.drive is None
    rig.safe()


def test_a_healthy_arm_jolted_off_its_up_switch_is_lowered_not_called_reversed(make_rig, kind):
    """An arm resting up, jolted (a gust, a bump): its up contact opens 0.1 s — a tamper, lowered — and reads shut
    again for 0.6 s as the lowering begins (the arm springing back, its lever's travel on a slow arm). Taken for the
    arm driven back to its up switch, the healthy lock latched ``motor_reversed``, stopped with the arm near up, and
    refused every NEV's lowering until a reset (review48). A switch left only a moment before the move is no sign
    the arm was off that end."""
    rig = make_rig(kind, position=0.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(4)
    assert rig.state == "up"
    rig.inject("stick_switch", "up", False)
    rig.step(0.1)
    assert rig.down_active()  # the tamper's lowering
    rig.inject("stick_switch", "up", True)
    rig.step(REVERSED_HOLD_S + 0.1)
    rig.inject("stick_switch", "up", None)
    rig.step(4)
    assert "motor_reversed" not in _codes(rig), _codes(rig)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(1)
    assert rig.arm.position == 0.0 and rig.state == "down", (rig.state, rig.arm.position)  # before: fault, 0.83
    rig.safe()
