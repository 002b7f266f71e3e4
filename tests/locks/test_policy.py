"""The per-bay policy, on MockFactory pins and on the simulator (``kind`` runs each test on both)."""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, DOWN, FUEL_PLATE, NEV_PLATE, UP, WARN


def moved(rig, state: str) -> list:
    return [e for e in rig.of(EventType.LOCK_MOVED) if e.data["state"] == state]


def test_nev_lowers_within_one_decision_cycle(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    assert rig.state == "up"
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    # the bus event itself is the decision cycle: DOWN is driven before any tick runs
    assert rig.down_active() and not rig.up_active()
    assert rig.state == "moving"
    rig.step(3.2)
    assert rig.state == "down" and rig.arm.position == 0.0 and not rig.down_active()
    down = moved(rig, "down")[-1]
    assert down.bay_id == "B1" and down.data["lock_id"] == "L1" and "NEV" in down.data["reason"]
    if kind == "gpio":
        assert [s.state for s in rig.pin(UP).states] == [False]  # UP relay never energised
        rig.pin(DOWN).assert_states([False, True, False])
    rig.safe()


def test_fuel_car_keeps_lock_up_with_warning(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives(FUEL_PLATE, nev=False)
    assert rig.state == "up" and not rig.down_active()
    warn = rig.of(EventType.LOCK_WARNING)
    assert len(warn) == 1 and warn[0].data["plate"] == FUEL_PLATE and warn[0].data["reason"] == "fuel vehicle"
    assert rig.warning_on()
    rig.step(9.9)
    assert rig.warning_on()
    rig.step(0.2)
    assert not rig.warning_on()  # warning_s = 10
    rig.step(120)
    assert rig.state == "up" and rig.arm.drive is None
    assert not moved(rig, "moving")
    if kind == "gpio":
        rig.pin(WARN).assert_states([False, True, False])
        assert [s.state for s in rig.pin(DOWN).states] == [False]
    rig.safe()


def test_unidentified_vehicle_warns_and_stays_up(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives("", nev=None)
    assert rig.state == "up"
    assert rig.of(EventType.LOCK_WARNING)[0].data["reason"] == "unidentified vehicle"
    rig.safe()


def test_raises_after_the_confirm_delay_once_the_car_left(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(3.2)
    rig.set_vehicle(True)  # parked over the lowered arm
    rig.step(600)
    assert rig.state == "down" and not rig.of(EventType.LOCK_REFUSED)
    rig.vehicle_leaves()
    rig.step(29.8)
    assert rig.state == "down" and not rig.up_active()
    rig.step(0.3)
    assert rig.up_active() and rig.state == "moving"
    rig.step(3.2)
    assert rig.state == "up"
    assert moved(rig, "up")[-1].data["reason"] == "bay free for 30s"
    rig.safe()


def test_admitted_nev_that_never_arrives_is_locked_out_after_the_admit_window(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    result = rig.manager.unlock("B1", reason="booking 42", operator="app")
    assert result.ok and result.data["lock_id"] == "L1"
    rig.step(3.2)
    assert rig.state == "down"
    assert moved(rig, "moving")[0].data["operator"] == "app"
    rig.step(120 - 3.2 - 0.2)
    assert rig.state == "down"
    rig.step(0.3)
    assert rig.up_active()
    rig.step(3.2)
    assert rig.state == "up" and "admit window" in moved(rig, "up")[-1].data["reason"]
    rig.safe()


def test_nev_identified_then_drives_off_without_parking(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(2)
    rig.vehicle_leaves()
    rig.step(30 + 3.5)
    assert rig.state == "up"
    rig.safe()


def test_maintenance_holds_down_and_refuses_remote_lock(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    assert rig.manager.set_maintenance("B1", True).ok
    rig.step(3.2)
    assert rig.state == "down"
    res = rig.manager.lock("B1", reason="try", operator="ops")
    assert not res.ok and res.data["code"] == "maintenance"
    rig.step(900)
    assert rig.state == "down" and not moved(rig, "up")[1:]  # only the start-up reading
    rig.manager.set_maintenance("B1", False)
    rig.step(30.2)
    assert rig.up_active()
    rig.step(3.2)
    rig.safe()


def test_remote_lock_on_a_free_bay_raises(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    assert rig.state == "down"
    rig.watch_free()  # every raise needs the bay seen free for auto_raise_delay_s (review74)
    res = rig.manager.lock("B1", reason="night closure", operator="ops")
    assert res.ok, res.message
    rig.step(3.2)
    assert rig.state == "up" and moved(rig, "up")[-1].data["operator"] == "ops"
    rig.safe()


def test_presence_is_exposed_for_occupancy(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    assert rig.manager.presence("B1") is False
    rig.set_vehicle(True)
    assert rig.manager.presence("B1") is True
    rig.inject("lose_presence")
    assert rig.manager.presence("B1") is None
    assert rig.manager.presence("nope") is None


def test_warning_follows_the_driver_capability_not_the_driver_name(make_rig):
    """A simulated lock modelling a unit without a beacon gets no set_warning(True); the policy asks
    the driver (``has_warning``, like ``has_presence``) instead of checking ``driver == "simulator"``."""
    rig = make_rig("sim", position=1.0)
    driver = rig.manager.driver(BAY)
    assert driver.has_warning  # the simulator's beacon is simulated
    driver.has_warning = False
    rig.vehicle_arrives(FUEL_PLATE, nev=False)
    assert len(rig.of(EventType.LOCK_WARNING)) == 1  # still reported upstream
    assert not driver.warning_on
    rig.safe()


def test_hardware_drivers_report_a_warning_output_only_when_wired(make_rig):
    assert make_rig("gpio").manager.driver(BAY).has_warning
    assert not make_rig("gpio", warning=None).manager.driver(BAY).has_warning


def test_a_presence_pulse_between_ticks_restarts_the_free_timer(make_rig, kind):
    """A presence edge reaches the policy, not only the interlock. Before, a pulse shorter than one
    tick aborted the policy's rise and the arm rose again as soon as it was down: 118 rises a minute
    under a sensor chattering 0.03 s every 0.5 s, instead of none until the bay is free for 30 s."""
    rig = make_rig(kind, position=0.0)
    rig.step(30.5)  # bay free for auto_raise_delay_s (30 s): the policy raises
    assert rig.state == "moving" and rig.up_active()
    rig.set_vehicle(True)
    rig.clock.advance(0.04)  # between two ticks
    rig.set_vehicle(False)
    assert not rig.up_active()
    rises = len([e for e in moved(rig, "moving") if e.data.get("direction") == "up"])
    rig.step(29.5)
    assert rig.state == "down" and len([e for e in moved(rig, "moving") if e.data.get("direction") == "up"]) == rises
    rig.step(1.0)  # free for 30 s since the pulse: now it rises
    assert rig.state == "moving" and rig.up_active()
    rig.step(3.5)
    assert rig.state == "up"
    rig.safe()


def test_lock_events_name_the_visit_that_caused_them(make_rig, kind):
    """The bay monitor publishes a visit's events before the bay state that names it (the real
    order, unlike ``vehicle_arrives``): the lowering for an NEV and the warning for a fuel car still
    carry that visit's id, as every event of a stay does; after the car left, none."""
    rig = make_rig(kind, position=1.0)
    for plate, nev in ((NEV_PLATE, True), (FUEL_PLATE, False)):
        rig.visit += 1
        rig.event(EventType.VEHICLE_ARRIVED)
        rig.event(EventType.VEHICLE_IDENTIFIED, plate=plate, nev=nev, reason="test")
        rig.bay("identified")
        rig.step(3.2)
        rig.set_vehicle(False)
        rig.event(EventType.VEHICLE_DEPARTED)
        rig.bay("free")
        rig.step(60)  # raised again once free
    lowering = [e for e in moved(rig, "moving") if e.data.get("direction") == "down"]
    assert [e.visit_id for e in lowering] == ["v1"] and moved(rig, "down")[0].visit_id == "v1"
    assert [e.visit_id for e in rig.of(EventType.LOCK_WARNING)] == ["v2"]
    raising = [e for e in moved(rig, "moving") if e.data.get("direction") == "up"]
    assert raising and all(e.visit_id is None for e in raising)
    rig.safe()


def test_a_remote_raise_waits_recent_read_s_after_the_last_plate_read(make_rig, kind):
    """docs/locks.md rule 12: a plate read within ``recent_read_s`` (15 s) refuses UP even when every other input
    says empty: a car read a moment ago may still be over or beside the arm."""
    rig = make_rig(kind, position=0.0)
    rig.step(1.0)
    rig.vehicle_arrives(FUEL_PLATE, nev=False)  # read at t0
    rig.step(5.0)
    rig.vehicle_leaves()
    rig.step(1.0)
    res = rig.manager.lock(BAY, reason="close the bay", operator="ops")
    assert not res.ok and res.data["code"] == "recent_read", res
    rig.step(15.0 - 6.0 - 0.3)
    assert rig.manager.lock(BAY, reason="close the bay", operator="ops").data["code"] == "recent_read"
    rig.step(0.5)
    # past recent_read_s, the read no longer refuses it: the bay's free watch since the car left (10 s of
    # auto_raise_delay_s, review74) is what holds it now
    res = rig.manager.lock(BAY, reason="close the bay", operator="ops")
    assert not res.ok and res.data["code"] == "occupancy_unsure", res
    rig.watch_free()
    assert rig.manager.lock(BAY, reason="close the bay", operator="ops").ok
    rig.step(3.2)
    assert rig.state == "up"
    rig.safe()
