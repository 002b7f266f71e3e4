"""The fault-injection table: one test per fault, each on MockFactory pins and on the simulator.

Every test ends with ``rig.safe()``: UP was never driven while a vehicle was possible,
and the arm is down or its motor stopped. Each also asserts its fault / refusal event.
"""

from __future__ import annotations

import pytest

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, DOWN, NEV_PLATE, UP, Rig


def codes(rig: Rig, type_: str) -> list[str]:
    return [e.data.get("code") for e in rig.of(type_)]


def rising(rig: Rig, seconds: float = 1.5) -> None:
    rig.watch_free()  # every raise needs the bay seen free for auto_raise_delay_s (review74)
    res = rig.manager.lock("B1", reason="test raise", operator="ops")
    assert res.ok, res.message
    rig.step(seconds)
    assert rig.up_active() and 0.0 < rig.arm.position < 1.0


def test_presence_while_rising_stops_and_lowers(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rising(rig)
    rig.set_vehicle(True)  # a car noses in over the rising arm
    assert not rig.up_active(), "UP must drop on the presence edge, not at the next tick"
    assert codes(rig, EventType.LOCK_REFUSED) == ["vehicle_present"]
    assert "rise aborted" in rig.of(EventType.LOCK_REFUSED)[0].data["reason"]
    rig.step(0.2)
    assert not rig.down_active()  # reverse_delay_s = 0.3: relays never reverse instantly
    rig.step(0.2)
    assert rig.down_active()
    rig.step(3)
    assert rig.state == "down" and rig.arm.position == 0.0
    if kind == "gpio":
        rig.pin(UP).assert_states([False, True, False])
        rig.pin(DOWN).assert_states([False, True, False])
        assert len(rig.pin(UP).states) == 3
    rig.safe()


def test_motor_stall_times_out_into_fault(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rig.inject("stall")
    rig.watch_free()
    assert rig.manager.lock("B1", reason="raise", operator="ops").ok
    rig.step(4.9)
    assert rig.up_active() and not rig.of(EventType.LOCK_FAULT)
    rig.step(0.2)
    assert codes(rig, EventType.LOCK_FAULT)[0] == "motor_timeout"
    assert rig.state == "fault" and not rig.up_active()
    rig.step(10)  # the arm never left the down switch: nothing to lower, motor stays off
    assert rig.arm.drive is None and rig.state == "fault" and rig.arm.position == 0.0
    assert codes(rig, EventType.LOCK_FAULT) == ["motor_timeout"]
    res = rig.manager.lock("B1", reason="again", operator="ops")
    assert not res.ok and res.data["code"] == "fault"
    rig.safe()


def test_stall_mid_rise_then_lowers_to_safe_position(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rising(rig, 1.5)
    rig.inject("stall")
    rig.step(3.6)
    assert rig.state == "fault" and codes(rig, EventType.LOCK_FAULT) == ["motor_timeout"]
    rig.step(0.4)
    assert rig.down_active()  # the fault lowers the arm to the safe end …
    rig.step(5.1)  # … but it is still stalled: stopped again, reported once more
    assert rig.arm.drive is None and codes(rig, EventType.LOCK_FAULT) == ["motor_timeout"] * 2
    rig.step(10)
    assert len(rig.of(EventType.LOCK_FAULT)) == 2
    rig.inject("stall", False)  # the obstruction is cleared; the operator lowers it
    assert rig.manager.unlock("B1", reason="after repair", operator="tech").ok
    rig.step(3)
    assert rig.arm.position == 0.0 and rig.state == "fault"
    assert rig.manager.reset("B1").ok and rig.state == "down"
    rig.safe()


def test_both_switches_active_is_a_fault(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.inject("stick_switch", "down", True)
    rig.inject("stick_switch", "down", None)  # a bounce shorter than switch_debounce_s: ignored
    rig.step(0.1)
    assert rig.state == "up" and not rig.of(EventType.LOCK_FAULT)
    rig.inject("stick_switch", "down", True)
    rig.step(0.1)  # held past the debounce
    assert rig.state == "fault" and codes(rig, EventType.LOCK_FAULT) == ["switches_both"]
    assert rig.arm.drive is None
    res = rig.manager.lock("B1", reason="x", operator="ops")
    assert not res.ok
    assert not rig.manager.reset("B1").ok  # cause still there
    rig.inject("stick_switch", "down", None)
    assert rig.manager.reset("B1").ok  # the arm reads up again, but its switches were just in doubt:
    assert rig.state == "moving" and rig.down_active()  # a reset lowers it, and only the policy raises
    assert rig.of(EventType.LOCK_MOVED)[-1].data["safety"] is True
    rig.step(3.2)
    assert rig.arm.position == 0.0  # at its end, but a switch of this lock just lied: the down one's word is not
    assert rig.state == "moving" and rig.down_active()  # taken, the arm driven down motor_timeout_s (no stroke known)
    rig.step(2)
    assert rig.state == "down" and not rig.down_active()
    rig.safe()


def test_both_switches_at_start_up(make_rig, kind):
    rig = make_rig(kind, position=0.0, start=False)
    rig.arm.stick_switch("up", True)
    rig.start()
    assert rig.state == "fault" and codes(rig, EventType.LOCK_FAULT) == ["switches_both"]
    rig.step(6)
    assert rig.arm.drive is None
    rig.safe()


def test_switch_flapping_is_a_fault(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    for value in (False, True, False, True):
        rig.inject("stick_switch", "up", value)
        rig.step(0.2)
    assert "switch_flapping" in codes(rig, EventType.LOCK_FAULT)
    assert rig.of(EventType.LOCK_TAMPER)
    rig.inject("stick_switch", "up", None)
    rig.step(4)
    assert rig.state == "fault" and rig.arm.position == 0.0
    assert not rig.manager.lock("B1", reason="x", operator="ops").ok
    rig.safe()


def test_presence_sensor_disconnected(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.inject("lose_presence")
    if kind == "gpio":  # the health output off: unknown at once, lost once it has stayed off presence.stale_s (1 s)
        assert rig.manager.presence("B1") is None and not rig.of(EventType.LOCK_FAULT)
        rig.step(1.0)
    assert rig.state == "fault" and codes(rig, EventType.LOCK_FAULT) == ["presence_unknown"]
    rig.step(3.5)
    assert rig.arm.position == 0.0
    res = rig.manager.reset("B1")
    assert not res.ok and "presence" in res.message
    rig.inject("lose_presence", False)
    assert rig.manager.reset("B1").ok
    rig.step(30.5)  # healthy again, bay free → auto-raise resumes
    rig.step(3.2)
    assert rig.state == "up"
    rig.safe()


def test_presence_sensor_lost_while_rising(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rising(rig)
    rig.inject("lose_presence")
    assert not rig.up_active()
    rig.step(4)
    assert rig.arm.position == 0.0 and rig.state == "fault"
    rig.safe()


def test_power_loss_mid_move_restarts_between_switches(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rising(rig, 1.5)
    rig.inject("power_loss")
    rig.step(1)
    rig.restart()  # the process comes back; the arm is half-way
    assert 0.0 < rig.arm.position < 1.0
    faults = rig.of(EventType.LOCK_FAULT)
    assert faults and faults[-1].data["code"] == "position_unknown"
    assert rig.state == "fault" and rig.down_active()
    rig.step(3)
    assert rig.arm.position == 0.0 and not rig.down_active()
    assert rig.manager.reset("B1").ok and rig.state == "down"
    rig.safe()


def test_forced_down_while_up_is_tamper(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives("粤B1234X", nev=False)
    rig.inject("move_to", 0.6)  # the car pushes the arm
    rig.step(0.1)
    tamper = rig.of(EventType.LOCK_TAMPER)
    assert len(tamper) == 1 and tamper[0].data["was"] == "up"
    rig.inject("force_down")
    rig.set_vehicle(True)
    rig.step(0.5)
    assert rig.state == "down"
    rig.step(300)  # the car stays: never raised under it
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_remote_lock_refused_while_a_car_is_present(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(3.2)
    rig.set_vehicle(True)
    res = rig.manager.lock("B1", reason="operator wants it up", operator="alice")
    assert not res.ok and res.data["code"] == "vehicle_present"
    assert "presence sensor" in res.message
    ref = rig.of(EventType.LOCK_REFUSED)[-1]
    assert ref.data["operator"] == "alice" and ref.data["request"] == "operator wants it up"
    rig.set_vehicle(False)  # sensor clear, camera still sees the car
    res = rig.manager.lock("B1", reason="again", operator="alice")
    assert not res.ok and res.data["code"] == "bay_occupied"
    assert rig.state == "down"
    rig.safe()


def test_camera_loss_blocks_raising(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rig.bay("free", camera_ok=False)
    res = rig.manager.lock("B1", reason="x", operator="ops")
    assert not res.ok and res.data["code"] == "camera_not_ok"
    rig.step(120)
    assert rig.state == "down"
    rig.safe()


def test_startup_without_bay_state_never_raises(make_rig, kind):
    rig = make_rig(kind, position=0.0, bay_state=None)
    rig.step(700)
    assert rig.state == "down"
    assert not rig.manager.lock("B1", reason="x", operator="ops").ok
    rig.safe()


# -- a raise needs positive evidence that the bay is empty ------------------------------------------
# The probe: a NaN bay polygon gave a mask with no pixel, the bay read "free" for ever, and a remote
# lock raised the arm under a parked car. Whatever the bay state says, the camera's evidence itself
# must be trustworthy, recent and confident.

UNTRUSTED_VISION = ["camera_lost", "camera_frozen", "camera_black", "camera_flat", "mask_empty",
                    "mask_outside_frame", "bay_flat", "bay_clipped", "bay_too_small"]


def moved(rig: Rig, state: str) -> list:
    return [e for e in rig.of(EventType.LOCK_MOVED) if e.data.get("state") == state]


@pytest.mark.parametrize("vision", UNTRUSTED_VISION)
def test_untrustworthy_vision_refuses_every_raise(make_rig, kind, vision):
    rig = make_rig(kind, position=0.0)
    rig.see(vision=vision)
    res = rig.manager.lock("B1", reason="remote lock", operator="ops")
    assert not res.ok and res.data["code"] == vision, res
    assert codes(rig, EventType.LOCK_REFUSED) == [vision]
    rig.step(120)  # the policy's auto-raise timer (30 s) never fires either
    assert rig.state == "down" and not moved(rig, "moving")
    rig.see(vision="ok")  # the camera is back: free for auto_raise_delay_s, then UP
    rig.step(29)
    assert rig.state == "down"
    rig.step(5)
    assert rig.state == "up"
    rig.safe()


@pytest.mark.parametrize("vision", ["camera_black", "mask_empty"])
def test_vision_lost_while_rising_aborts_at_once(make_rig, kind, vision):
    rig = make_rig(kind, position=0.0)
    rising(rig)
    rig.see(vision=vision)
    assert not rig.up_active(), "UP must drop when the evidence goes, not at the next tick"
    assert codes(rig, EventType.LOCK_REFUSED) == [vision]
    rig.step(4)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_stale_occupancy_refuses_and_aborts_a_rise(make_rig, kind):
    rig = make_rig(kind, position=0.0, occupancy_max_age_s=1.0)
    rig.see(measuring=False)  # frames stop coming (the camera has not been declared lost yet)
    rig.step(1.2)
    res = rig.manager.lock("B1", reason="x", operator="ops")
    assert not res.ok and res.data["code"] == "occupancy_stale", res
    rig.see(measuring=True)
    rising(rig, 1.0)
    rig.see(measuring=False)
    rig.step(0.9)
    assert rig.up_active()  # 0.9 s old: still fresh
    rig.step(0.3)
    assert not rig.up_active() and codes(rig, EventType.LOCK_REFUSED)[-1] == "occupancy_stale"
    rig.step(4)
    assert rig.state == "down"
    rig.safe()


def test_never_measured_refuses(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rig.feed.reset_vision(["B1"])  # a monitor just built (start, reload): nothing measured yet
    rig.measuring = False
    res = rig.manager.lock("B1", reason="x", operator="ops")
    assert not res.ok and res.data["code"] == "occupancy_stale" and "never" in res.message
    rig.safe()


@pytest.mark.parametrize("p", [None, float("nan"), 0.9, 0.5, -0.1])
def test_unsure_occupancy_refuses(make_rig, kind, p):
    rig = make_rig(kind, position=0.0)
    rig.see(confident=p is not None, p_occupied=p)  # p=None: the change detector in its hysteresis band
    res = rig.manager.lock("B1", reason="x", operator="ops")
    assert not res.ok and res.data["code"] == "occupancy_unsure", res
    rig.see(confident=True, p_occupied=0.02)
    rig.watch_free()  # sure again: seen so for auto_raise_delay_s, as every raise needs
    assert rig.manager.lock("B1", reason="x", operator="ops").ok
    rig.step(4)
    assert rig.state == "up"
    rig.safe()


def test_bay_in_a_visit_refuses_even_when_free(make_rig, kind):
    """A visit still open (the car just left, departure not confirmed): not empty yet."""
    rig = make_rig(kind, position=0.0)
    rig.bay("free", visit_open=True)
    res = rig.manager.lock("B1", reason="x", operator="ops")
    assert not res.ok and res.data["code"] == "bay_in_visit", res
    rig.safe()


def test_no_vision_feed_refuses(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    rig.feed.reset_vision([])  # no monitor speaks for this bay (it left the config)
    rig.measuring = False
    res = rig.manager.lock("B1", reason="x", operator="ops")
    assert not res.ok and res.data["code"] == "vision_unknown", res
    rig.safe()


def test_something_seen_before_the_arrival_is_confirmed_refuses(make_rig, kind):
    """The bay state stays "free" for arrival_confirm_s while a car pulls in; the measurement
    itself already sees it, and that is no evidence of an empty bay."""
    rig = make_rig(kind, position=0.0)
    rig.see(occupied=True)
    res = rig.manager.lock("B1", reason="x", operator="ops")
    assert not res.ok and res.data["code"] == "vision_occupied", res
    rig.see(occupied=False)
    rising(rig)
    rig.see(occupied=True)  # seen while rising: UP drops at once
    assert not rig.up_active() and codes(rig, EventType.LOCK_REFUSED)[-1] == "vision_occupied"
    rig.step(4)
    assert rig.state == "down"
    rig.safe()


def test_an_arm_pushed_flat_is_not_raised_again_under_the_car(make_rig, kind):
    """A camera-only lock, UP over a free bay; a car pushes the arm flat and rolls on, and the camera
    needs a frame or two to call it. Before, the policy's free timer (started long ago) raised the arm
    at the next tick, under the car; now a tamper restarts it: not before auto_raise_delay_s."""
    over = {"presence": None} if kind == "gpio" else {"simulator": {"travel_time_s": 3.0, "presence": False}}
    rig = make_rig(kind, position=1.0, **over)
    rig.step(40)
    assert rig.state == "up"
    rig.arm.set_vehicle(True)  # the rig's ground truth; no sensor tells the lock
    rig.inject("move_to", 0.0)
    rig.step(0.5)  # the camera still says "empty"
    assert rig.state == "down" and codes(rig, EventType.LOCK_TAMPER) == [None]
    assert 29.0 < rig.manager.status()[BAY]["raise_due_in_s"] <= 30.0  # auto_raise_delay_s from the tamper
    rig.see(occupied=True, confident=False, p_occupied=0.8)  # now it sees the car
    rig.step(60)
    assert rig.state == "down"
    rig.safe()
