"""A presence sensor that never sees the cars the camera sees is no witness before a raise.

The interlock raises only when the sensor and the camera both say the bay is empty. A sensor stuck clear, dead in its
clear state or knocked off its aim says "clear" under every car: the second witness was gone and nothing said so —
the arm rose on the camera's word alone. The opposite mismatch (sensor "vehicle", camera empty) was already a FAULT
after ``presence.disagree_s``; this one holds raises (``presence_blind``) until the sensor sees a car the camera sees,
or a reset: a car parked off the beam or a motorbike the sensor misses is no broken sensor, and the next car it does
see ends the hold with nobody sent to the bay.
"""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, gpio_lock

DISAGREE_S = 60.0  # presence.disagree_s at its lowest, to keep the runs short


def refusals(rig) -> list[str]:  # noqa: ANN001
    return [e.data["code"] for e in rig.of(EventType.LOCK_REFUSED)]


def blind_rig(make_rig, position: float = 0.0):  # noqa: ANN001, ANN201
    presence = {**gpio_lock()["presence"], "disagree_s": DISAGREE_S}
    rig = make_rig("gpio", position=position, presence=presence)
    rig.see(occupied=False, p_occupied=0.05)
    return rig


def car_parks(rig, over_sensor: bool) -> None:  # noqa: ANN001
    """The camera sees it (the bay occupied, confidently); the sensor only where it is over it."""
    rig.bay("occupied")
    rig.see(occupied=True, p_occupied=0.95)
    if over_sensor:
        rig.set_vehicle(True)
    rig.event(EventType.VEHICLE_ARRIVED)


def car_leaves(rig) -> None:  # noqa: ANN001
    rig.set_vehicle(False)
    rig.see(occupied=False, p_occupied=0.05)
    rig.event(EventType.VEHICLE_DEPARTED)
    rig.bay("free")


def test_a_sensor_that_misses_a_parked_car_holds_raises_until_it_sees_one(make_rig):
    rig = blind_rig(make_rig)
    car_parks(rig, over_sensor=False)  # the sensor says "clear" under a car the camera sees
    rig.step(DISAGREE_S - 5)
    assert refusals(rig) == [], "not before presence.disagree_s"
    rig.step(10)
    assert refusals(rig) == ["presence_blind"], "said at once, while the car is still there"
    said = rig.of(EventType.LOCK_REFUSED)[0].data["reason"]
    assert "clear" in said and "camera saw a vehicle" in said and "reset" in said
    car_leaves(rig)
    rig.step(10 * 60)
    assert rig.state == "down" and rig.arm.position == 0.0, "a sensor that saw no car vouches for no empty bay"
    assert refusals(rig) == ["presence_blind"], "said once an episode"
    assert not rig.manager.lock(BAY, "close the bay", "ops").ok
    assert refusals(rig)[-1] == "presence_blind"

    car_parks(rig, over_sensor=True)  # the next car is over it: it sees cars again
    rig.step(5)
    car_leaves(rig)
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up", "the sensor saw a car the camera saw: its clear counts again"
    assert not rig.violations


def test_a_reset_trusts_the_sensor_again(make_rig):
    rig = blind_rig(make_rig)
    car_parks(rig, over_sensor=False)
    rig.step(DISAGREE_S + 5)
    car_leaves(rig)
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "down"
    assert rig.manager.reset(BAY, "tech").ok  # someone checked the sensor's aim
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up" and not rig.violations
    car_parks(rig, over_sensor=False)  # but a car stopped in front of the raised arm: outside the beam by design
    rig.step(3 * DISAGREE_S)
    assert refusals(rig) == ["presence_blind"] and rig.state == "up", "judged only with the arm down"


def test_a_short_miss_or_a_sensor_that_sees_the_car_holds_nothing(make_rig):
    """A car off the beam for less than presence.disagree_s, or one over it: the arm rises as before."""
    rig = blind_rig(make_rig)
    car_parks(rig, over_sensor=False)
    rig.step(DISAGREE_S - 10)
    car_leaves(rig)
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up"
    assert rig.manager.unlock(BAY, "an NEV", "ops").ok
    rig.step(5)
    car_parks(rig, over_sensor=True)
    rig.step(3 * DISAGREE_S)
    car_leaves(rig)
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up" and "presence_blind" not in refusals(rig)
    assert not rig.violations


def test_a_pause_in_the_camera_s_word_does_not_restart_the_watch(make_rig):
    """Still-scene key frames a few seconds apart leave the evidence stale between them (as for the other
    mismatch): each restarting the watch, a sensor that sees no car was never judged."""
    rig = blind_rig(make_rig)
    car_parks(rig, over_sensor=False)
    for _ in range(int(DISAGREE_S // 5) + 2):
        rig.see(measuring=True)
        rig.step(0.5)
        rig.see(measuring=False)  # the picture repeats: stale after occupancy_max_age_s
        rig.step(4.5)
    rig.see(measuring=True)
    rig.step(1)
    assert refusals(rig) == ["presence_blind"]
