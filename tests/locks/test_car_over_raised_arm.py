"""A car over the raised arm: the presence sensor under the arm reports it while the arm is up (an arm that rose
under a car by any fault the camera missed). The arm goes DOWN at once, whatever the car: lowering moves the arm away
from the car's underside, staying up leaves it pressed there for the driver to tear off, and the car holds the bay
already, so nothing is let in. A car stopped in front of a raised arm is outside the sensor's beam by design: the
NEV-only rule (a fuel car finds the arm up and a warning) is unchanged (``test_policy.py``)."""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import FUEL_PLATE


def test_fuel_car_over_the_raised_arm_lowers_it(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives(FUEL_PLATE, nev=False, over_arm=True)
    assert rig.of(EventType.LOCK_WARNING)  # still warned: a fuel car in an NEV bay
    rig.step(3.5)
    assert rig.state == "down" and rig.arm.position == 0.0
    down = [e for e in rig.of(EventType.LOCK_MOVED) if e.data["state"] == "down"]
    assert down and "over the raised arm" in down[-1].data["reason"]
    rig.step(60)  # the car stays: no rise under it
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_sensor_seeing_a_car_over_a_raised_arm_on_an_empty_camera_lowers_it(make_rig, kind):
    """No plate, the camera's word "free" (what let the arm rise under the car): the sensor's word is enough."""
    rig = make_rig(kind, position=1.0)
    rig.set_vehicle(True)
    rig.step(0.2)
    assert rig.state in ("moving", "down") and not rig.up_active()
    rig.step(3.5)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_car_in_front_of_the_raised_arm_keeps_it_up(make_rig, kind):
    """The camera alone sees a car (the sensor clear): stopped in front of the arm, as the NEV-only design means."""
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives(FUEL_PLATE, nev=False)
    rig.step(60)
    assert rig.state == "up" and not [e for e in rig.of(EventType.LOCK_MOVED) if e.data["state"] == "down"]
    rig.safe()
