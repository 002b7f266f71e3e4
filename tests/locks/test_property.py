"""Property: whatever happens — vehicles, sensors, commands, faults, restarts — the UP line is
never active while anything says a vehicle may be over the arm, the motor never drives both
ways, a FAULT always comes with a ``lock_fault`` event, and a faulted lock settles DOWN or stopped.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge_agent.clock import FakeClock
from edge_agent.events.types import EventType
from tests.locks.conftest import FUEL_PLATE, NEV_PLATE, Rig

ACTIONS = st.one_of(
    st.tuples(st.just("bay"), st.sampled_from(["free", "free", "occupied", "identified", "unknown"]),
              st.sampled_from([True, True, True, False])),
    st.tuples(st.just("identified"), st.sampled_from([True, False, None])),
    st.tuples(st.just("departed")),
    st.tuples(st.just("vehicle"), st.booleans()),
    st.tuples(st.just("advance"), st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.5, 6.0, 31.0, 125.0])),
    st.tuples(st.just("lock")),
    st.tuples(st.just("unlock")),
    st.tuples(st.just("reset")),
    st.tuples(st.just("maintenance"), st.booleans()),
    st.tuples(st.just("stall"), st.booleans()),
    st.tuples(st.just("stick_switch"), st.sampled_from(["down", "up"]), st.sampled_from([True, False, None])),
    st.tuples(st.just("move_to"), st.sampled_from([0.0, 0.3, 0.7, 1.0])),
    st.tuples(st.just("lose_presence"), st.booleans()),
    st.tuples(st.just("power_loss_restart")),
)


def apply(rig: Rig, action: tuple) -> None:
    name, *args = action
    m = rig.manager
    if name == "bay":
        rig.bay(args[0], camera_ok=args[1])
    elif name == "identified":
        nev = args[0]
        rig.event(EventType.VEHICLE_IDENTIFIED, plate=NEV_PLATE if nev else FUEL_PLATE, nev=nev)
    elif name == "departed":
        rig.event(EventType.VEHICLE_DEPARTED)
    elif name == "vehicle":
        rig.set_vehicle(args[0])
    elif name == "advance":
        rig.step(args[0], dt=0.25)
    elif name == "lock":
        m.lock("B1", reason="prop", operator="p")
    elif name == "unlock":
        m.unlock("B1", reason="prop", operator="p")
    elif name == "reset":
        m.reset("B1")
    elif name == "maintenance":
        m.set_maintenance("B1", args[0])
    elif name == "power_loss_restart":
        rig.inject("power_loss")
        rig.restart()
    else:
        rig.inject(name, *args)
    rig.observe(name)


def check(rig: Rig, action: tuple) -> None:
    """Invariants after every action (the rig also checks UP-vs-vehicle and motor-vs-both-switches)."""
    assert not rig.violations, (action, rig.violations)
    assert not (rig.up_active() and rig.down_active()), "both motor lines on"
    if rig.state == "fault":
        assert rig.of(EventType.LOCK_FAULT), "FAULT without a lock_fault event"
        assert not rig.up_active()


def run_sequence(kind: str, start: float, actions: list[tuple]) -> None:
    rig = Rig(kind, FakeClock(), position=start)
    try:
        check(rig, ("start",))
        for action in actions:
            apply(rig, action)
            check(rig, action)
        rig.step(12.0, dt=0.25)  # a rise may time out (5 s), then the lowering finishes or times out (5 s)
        check(rig, ("settle",))
        if rig.state == "fault":
            assert rig.arm.drive is None and not rig.up_active()  # faulted: held, motor off
    finally:
        rig.close()


@pytest.mark.parametrize("kind", ["gpio", "sim"])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.sampled_from([0.0, 1.0, 0.5]), actions=st.lists(ACTIONS, min_size=1, max_size=40))
@example(start=1.0, actions=[("stick_switch", "down", True), ("advance", 0.25), ("stick_switch", "down", None),
                             ("stick_switch", "up", True), ("identified", True)])  # found: ran into the end stop
def test_interlock_invariant(kind: str, start: float, actions: list[tuple]) -> None:
    run_sequence(kind, start, actions)
