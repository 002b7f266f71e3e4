"""A remote ``lock`` needs the bay seen empty as long as the policy's own rise does (probe review74).

After occ37 every automatic rise waited for the bay seen free, confidently, for ``auto_raise_delay_s`` on end; the
remote ``lock`` (backend or operator over MQTT or the page) was still taken on the one reading of its moment. A car
the classifier reads on its exit threshold (PKLot 2013-03-09's bay A08: p 0.28-0.36, one frame in two confidently
"empty") had the arm driven up under it by a command that came on an "empty" frame.
"""

from __future__ import annotations

import re

from edge_agent.events.types import EventType


def _flicker(rig, seconds: float) -> None:  # noqa: ANN001
    """A parked car read on the exit threshold: 0.5 s unsure, 0.5 s confidently empty, in turn (ends on empty)."""
    for _ in range(round(seconds)):
        rig.see(confident=False, p_occupied=0.33, occupied=False)
        rig.step(0.5)
        rig.see(confident=True, p_occupied=0.29, occupied=False)
        rig.step(0.5)


def _ups(rig) -> list:  # noqa: ANN001
    return [e for e in rig.of(EventType.LOCK_MOVED) if e.data.get("direction") == "up"]


def test_a_remote_lock_on_one_empty_reading_of_a_car_on_the_threshold_is_refused(make_rig):
    rig = make_rig("sim", position=1.0, simulator={"travel_time_s": 3.0, "presence": False})
    assert rig.manager.unlock("B1", reason="booking 42", operator="app").ok
    rig.step(3.2)
    assert rig.state == "down"
    rig.set_vehicle(True)  # parked over the lowered arm; the camera never confirms it
    _flicker(rig, 20)
    assert rig.vehicle_possible() == "vehicle over the arm"  # the truth
    # what the interlock reads at this moment: "empty", confidently (the rule of one reading would raise)
    assert rig.manager._unit("B1").controller.il.vehicle_possible() is None
    res = rig.manager.lock("B1", reason="close the bay", operator="ops")
    assert not res.ok and res.data["code"] == "occupancy_unsure", res
    # the refusal says how long the bay must still be seen empty
    m = re.search(r"raise in (\d+)s", res.message)
    assert m and 29 <= int(m.group(1)) <= 30, res.message
    refused = rig.of(EventType.LOCK_REFUSED)[-1]
    assert refused.data["code"] == "occupancy_unsure" and refused.data.get("operator") == "ops"
    rig.step(0.3)
    assert not _ups(rig) and rig.state == "down" and not rig.up_active()
    assert rig.violations == []
    rig.safe()


def test_a_remote_lock_rises_once_the_bay_was_seen_empty_for_the_raise_delay(make_rig):
    rig = make_rig("sim", position=1.0, simulator={"travel_time_s": 3.0, "presence": False})
    assert rig.manager.unlock("B1", reason="booking 42", operator="app").ok
    rig.see(confident=False, p_occupied=0.4)
    rig.step(10)
    rig.see(confident=True, p_occupied=0.1)  # confidently empty from now on
    rig.step(29.0)
    res = rig.manager.lock("B1", reason="close the bay", operator="ops")
    assert not res.ok and res.data["code"] == "occupancy_unsure" and "raise in 1s" in res.message, res
    rig.step(1.2)
    res = rig.manager.lock("B1", reason="close the bay", operator="ops")
    assert res.ok, res
    rig.step(3.5)
    assert rig.state == "up"
    rig.safe()


def test_a_remote_lock_on_a_bay_long_free_rises_at_once_and_down_never_waits(make_rig):
    """The price of the rule is only paid after the bay's evidence broke: an unlock made by mistake on a bay empty all
    along is undone at once, and a lowering never waits for anything."""
    rig = make_rig("sim", position=1.0, simulator={"travel_time_s": 3.0, "presence": False})
    rig.step(40)  # the policy raised the arm: free for auto_raise_delay_s
    assert rig.state == "up"
    assert rig.manager.unlock("B1", reason="by mistake", operator="ops").ok
    rig.step(4.0)  # down, and past reverse_delay_s
    assert rig.state == "down"
    assert rig.manager.lock("B1", reason="undo", operator="ops").ok
    rig.step(3.2)
    assert rig.state == "up"
    rig.see(confident=False, p_occupied=0.4)
    assert rig.manager.unlock("B1", reason="NEV booked", operator="app").ok  # unsure or not: DOWN at once
    rig.step(3.2)
    assert rig.state == "down"
    rig.safe()


def test_a_remote_lock_waits_the_raise_delay_after_an_arm_pushed_flat(make_rig):
    """An arm moved without a command (``lock_tamper``: a car rolling over it, maybe before the camera calls it) holds
    the policy's rise for ``auto_raise_delay_s`` from then; a remote ``lock`` sent on the camera's next "empty" frame
    drove it up under the car (probe cmdwatch): it waits as long."""
    rig = make_rig("sim", position=1.0, simulator={"travel_time_s": 3.0, "presence": False})
    rig.step(40)
    assert rig.state == "up"
    rig.arm.set_vehicle(True)  # the rig's ground truth; no sensor tells the lock
    rig.inject("move_to", 0.0)
    rig.step(0.5)  # the camera still says "empty", confidently
    assert rig.state == "down" and rig.of(EventType.LOCK_TAMPER)
    res = rig.manager.lock("B1", reason="close the bay", operator="ops")
    assert not res.ok and res.data["code"] == "occupancy_unsure", res
    m = re.search(r"raise in (\d+)s", res.message)
    assert m and 29 <= int(m.group(1)) <= 30, res.message
    rig.step(0.3)
    assert not rig.up_active() and rig.state == "down"
    rig.arm.set_vehicle(False)  # it rolled on; the camera saw nothing in the bay all along
    rig.step(29.0)
    res = rig.manager.lock("B1", reason="close the bay", operator="ops")
    assert not res.ok and res.data["code"] == "occupancy_unsure", res
    rig.step(1.0)  # auto_raise_delay_s since the tamper: as the policy, it may rise
    assert rig.manager.lock("B1", reason="close the bay", operator="ops").ok
    rig.step(3.2)
    assert rig.state == "up"
    rig.safe()
