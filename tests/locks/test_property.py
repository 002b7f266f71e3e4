"""Property: whatever happens — vehicles, sensors, commands, faults, restarts (which read the faults
and maintenance mode the last run saved), and a camera whose evidence goes untrustworthy (lost /
frozen / black, empty bay mask), stale or unsure — the UP line is never active unless there is
positive evidence that the bay is empty; the motor never drives both ways, a FAULT always comes
with a ``lock_fault`` event, and a faulted lock settles DOWN or stopped.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge_agent.clock import FakeClock
from edge_agent.events.types import EventType
from edge_agent.locks.latches import LATCH_FILE
from tests.locks.conftest import BAY, FUEL_PLATE, NEV_PLATE, Rig

NAN = float("nan")
VISION = ["ok", "ok", "ok", "camera_lost", "camera_frozen", "camera_black", "mask_empty", "mask_outside_frame"]

ACTIONS = st.one_of(
    st.tuples(st.just("bay"), st.sampled_from(["free", "free", "occupied", "identified", "unknown"]),
              st.sampled_from([True, True, True, False]), st.sampled_from([False, False, False, True])),
    # the camera's evidence: its code, confidence, whether it still measures (False: it goes stale), p_occupied
    st.tuples(st.just("vision"), st.sampled_from(VISION)),
    st.tuples(st.just("confident"), st.booleans()),
    st.tuples(st.just("occupied"), st.booleans()),
    st.tuples(st.just("measuring"), st.booleans()),
    st.tuples(st.just("measuring"), st.just(False)),  # twice: the camera stalling is the case most easily missed
    st.tuples(st.just("p_occupied"), st.sampled_from([None, 0.05, 0.7, NAN])),
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
        rig.bay(args[0], camera_ok=args[1], visit_open=args[2])
    elif name in ("vision", "confident", "occupied", "measuring", "p_occupied"):
        rig.see(**{name: args[0]})
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
    folder = tempfile.TemporaryDirectory()  # restarts read the faults the last run saved, as the agent's do
    rig = Rig(kind, FakeClock(), position=start, occupancy_max_age_s=1.0,  # short: staleness within most advances
              latches_at=Path(folder.name) / LATCH_FILE)
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
        folder.cleanup()


@pytest.mark.parametrize("kind", ["gpio", "sim"])
@settings(max_examples=850, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.sampled_from([0.0, 1.0, 0.5]), actions=st.lists(ACTIONS, min_size=1, max_size=40))
@example(start=1.0, actions=[("stick_switch", "down", True), ("advance", 0.25), ("stick_switch", "down", None),
                             ("stick_switch", "up", True), ("identified", True)])  # found: ran into the end stop
@example(start=0.0, actions=[("vision", "mask_empty"), ("lock",), ("advance", 31.0)])  # the probe
@example(start=0.0, actions=[("measuring", False), ("advance", 2.0), ("lock",)])
@example(start=0.0, actions=[("stick_switch", "up", True), ("advance", 0.25), ("unlock",)])  # found: a run-on
# lowering driven under switches_both, both switches active (probe lock35)
def test_interlock_invariant(kind: str, start: float, actions: list[tuple]) -> None:
    run_sequence(kind, start, actions)


# -- the rule itself, both ways: UP exactly when the evidence says the bay is empty -------------------
EVIDENCE = st.fixed_dictionaries({
    "state": st.sampled_from(["free", "free", "free", "occupied", "identified", "unknown"]),
    "camera_ok": st.sampled_from([True, True, True, False]),
    "visit_open": st.sampled_from([False, False, False, True]),
    "vision": st.sampled_from(VISION),
    "occupied": st.sampled_from([False, False, False, True]),
    "confident": st.sampled_from([True, True, True, False]),
    # s since the last measurement; None: never measured; "gone": no monitor speaks for the bay
    "age": st.sampled_from([0.0, 0.0, 0.5, 0.9, 1.3, 5.0, None, "gone"]),
    "p": st.sampled_from([None, None, None, 0.05, 0.49, 0.5, 0.7, NAN]),
    "presence": st.sampled_from(["clear", "clear", "clear", "vehicle", "lost"]),
    "path": st.sampled_from(["remote", "policy"]),
})


@pytest.mark.parametrize("kind", ["gpio", "sim"])
@settings(max_examples=850, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ev=EVIDENCE)
def test_up_exactly_on_positive_evidence_of_an_empty_bay(kind: str, ev: dict) -> None:
    """Stage one state of every input the rule reads, then ask for UP by a remote ``lock`` or by the
    policy timer: never UP while the ground truth says a vehicle may be there (the rig records any),
    and UP when everything says empty (so the rule is not simply "never")."""
    rig = Rig(kind, FakeClock(), position=0.0, occupancy_max_age_s=1.0)
    try:
        if ev["path"] == "remote":  # every raise needs the bay watched free for auto_raise_delay_s first (review74)
            rig.watch_free(dt=1.0)
        rig.bay(ev["state"], camera_ok=ev["camera_ok"], visit_open=ev["visit_open"])
        if ev["presence"] == "vehicle":
            rig.set_vehicle(True)
        elif ev["presence"] == "lost":
            rig.inject("lose_presence")
        if ev["age"] in (None, "gone"):
            rig.feed.reset_vision([BAY] if ev["age"] is None else [])  # a monitor just built / the bay left
            rig.measuring = False
        else:
            rig.see(vision=ev["vision"], occupied=ev["occupied"], confident=ev["confident"], p_occupied=ev["p"])
        if ev["path"] == "remote":
            if isinstance(ev["age"], float) and ev["age"] > 0:
                rig.see(measuring=False)
                rig.clock.advance(ev["age"])  # no tick between: the evidence ages, nothing else happens
            empty = rig.vehicle_possible() is None
            res = rig.manager.lock(BAY, reason="prop", operator="p")
            rig.observe("lock")
            assert res.ok == empty, (ev, res, rig.vehicle_possible())
        else:  # the policy raises after auto_raise_delay_s (30 s) of a free bay
            empty = rig.vehicle_possible() is None
            rig.step(31.0, dt=1.0)
            assert (rig.state in ("moving", "up")) == empty, (ev, rig.state, rig.vehicle_possible())
        assert not rig.violations, (ev, rig.violations)
    finally:
        rig.close()
