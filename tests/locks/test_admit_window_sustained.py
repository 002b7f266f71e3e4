"""The admit window's rise needs the bay seen empty as long as any other rise does (probe occ37).

On a real replay (PKLot 2013-03-09, bay A08, ``replay --sim-locks`` with the arm lowered for each arriving car) the
camera never confirmed a parked car: its readings sat on ``exit_p`` (0.28-0.36 for 100 s), one frame in two
confidently empty. The admit window's rise was taken on whichever single reading came at its due time: the arm rose
120 s after the unlock, 14 s after that car happened to leave. Staying longer, it rose under the car.
"""

from __future__ import annotations

from edge_agent.events.types import EventType


def _flicker(rig, seconds: float) -> None:  # noqa: ANN001
    """A parked car the classifier reads on its exit threshold: 0.5 s confidently empty, 0.5 s unsure, in turn."""
    for _ in range(round(seconds)):
        rig.see(confident=True, p_occupied=0.29, occupied=False)
        rig.step(0.5)
        rig.see(confident=False, p_occupied=0.33, occupied=False)
        rig.step(0.5)


def test_an_admitted_car_read_on_the_threshold_is_no_empty_bay_at_the_admit_window(make_rig):
    rig = make_rig("sim", position=1.0, simulator={"travel_time_s": 3.0, "presence": False})
    assert rig.manager.unlock("B1", reason="booking 42", operator="app").ok
    rig.step(3.2)
    assert rig.state == "down"
    rig.step(2.0)
    rig.set_vehicle(True)  # parked over the lowered arm; the camera never confirms it (no arrival)
    _flicker(rig, 200)
    assert rig.violations == []
    assert not [e for e in rig.of(EventType.LOCK_MOVED) if e.data.get("direction") == "up"]
    assert rig.state == "down"
    rig.safe()


def test_an_admitted_car_that_never_came_still_frees_the_bay_at_the_admit_window(make_rig):
    """The price asked of the rule: none where the bay read empty all along (the window's due time rules)."""
    rig = make_rig("sim", position=1.0, simulator={"travel_time_s": 3.0, "presence": False})
    assert rig.manager.unlock("B1", reason="booking 42", operator="app").ok
    rig.step(120 - 0.2)
    assert rig.state == "down"
    rig.step(0.3)
    assert rig.up_active()
    rig.step(3.2)
    assert rig.state == "up"
    rig.safe()


def test_an_admit_window_rise_waits_for_the_bay_to_be_seen_empty_for_the_raise_delay(make_rig):
    """Unsure until 110 s, then confidently empty: not up at 120 s but at 110 + auto_raise_delay_s (30 s)."""
    rig = make_rig("sim", position=1.0, simulator={"travel_time_s": 3.0, "presence": False})
    assert rig.manager.unlock("B1", reason="booking 42", operator="app").ok
    rig.see(confident=False, p_occupied=0.4)
    rig.step(110)
    rig.see(confident=True, p_occupied=0.1)
    rig.step(29.7)
    assert rig.state == "down" and not rig.up_active()
    rig.step(0.5)
    assert rig.up_active()
    rig.step(3.2)
    assert rig.state == "up"
    rig.safe()
