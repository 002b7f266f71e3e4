"""What only the bay can end outlives a restart: a lowering owed, and a presence sensor known blind to parked cars.

Both lived in memory. A restart (a crash and systemd, a power cut) found an arm whose NEV lowering's write had failed
``up``, and took it for one that rests up: it stood in front of the NEV it was owed to. And it trusted again a sensor
that had reported "clear" under a parked car for ``presence.disagree_s``: the arm rose on the camera's word alone,
the one thing the hold is there to stop (probe lock31).
"""

from __future__ import annotations

import json

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, DOWN, NEV_PLATE, gpio_lock
from tests.locks.test_blind_sensor import DISAGREE_S, car_leaves, car_parks, refusals
from tests.locks.test_motor_write_failed import failing


def saved(path) -> dict:  # noqa: ANN001
    return json.loads(path.read_text())["locks"].get("L1", {}) if path.exists() else {}


def test_a_sensor_found_blind_is_no_witness_after_a_restart(make_rig, tmp_path):
    latches = tmp_path / "lock-latches.json"
    presence = {**gpio_lock()["presence"], "disagree_s": DISAGREE_S}
    rig = make_rig("gpio", position=0.0, presence=presence, latches_at=latches)
    rig.see(occupied=False, p_occupied=0.05)
    car_parks(rig, over_sensor=False)
    rig.step(DISAGREE_S + 5)
    assert refusals(rig) == ["presence_blind"]
    car_leaves(rig)
    rig.restart()
    rig.step(rig.lock_cfg.auto_raise_delay_s + 10)
    assert rig.state == "down" and rig.arm.position == 0.0, "the restart trusted the blind sensor again"
    assert refusals(rig)[-1] == "presence_blind"
    assert "kept over a restart" in rig.of(EventType.LOCK_REFUSED)[-1].data["reason"]
    assert "presence_blind" in saved(latches)

    car_parks(rig, over_sensor=True)  # it sees a car the camera sees: trusted again, on disk too
    rig.step(5)
    assert "presence_blind" not in saved(latches)
    car_leaves(rig)
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up"
    rig.safe()


def test_a_reset_ends_the_saved_hold(make_rig, tmp_path):
    latches = tmp_path / "lock-latches.json"
    presence = {**gpio_lock()["presence"], "disagree_s": DISAGREE_S}
    rig = make_rig("gpio", position=0.0, presence=presence, latches_at=latches)
    rig.see(occupied=False, p_occupied=0.05)
    car_parks(rig, over_sensor=False)
    rig.step(DISAGREE_S + 5)
    car_leaves(rig)
    assert rig.manager.reset(BAY, "tech").ok
    assert "presence_blind" not in saved(latches)
    rig.restart()
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "up"
    rig.safe()


def test_an_nevs_owed_lowering_is_not_forgotten_at_a_restart(make_rig, tmp_path):
    """The NEV's lowering write fails (owed, retried at the next tick); the agent is restarted before it works. Found
    up with no record, the arm was taken as resting up, in front of the NEV."""
    latches = tmp_path / "lock-latches.json"
    rig = make_rig("gpio", position=1.0, latches_at=latches)
    rig.step(1)
    assert rig.state == "up"
    failing(rig.pin(DOWN), True, times=None)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    assert rig.arm.position == 1.0
    rig.restart()  # new pins: the driver works again
    rig.step(4)
    assert rig.arm.position == 0.0 and rig.state == "down", "the owed lowering was forgotten"
    assert "lowering" not in saved(latches)
    assert not rig.of(EventType.LOCK_FAULT)
    assert not rig.violations


def test_a_lowering_seen_to_its_end_leaves_no_record(make_rig, tmp_path):
    latches = tmp_path / "lock-latches.json"
    rig = make_rig("gpio", position=1.0, latches_at=latches)
    rig.step(1)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(4)
    assert rig.state == "down" and saved(latches) == {}
    rig.safe()
