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

OLD_KEYS = {"fault", "maintenance", "rising"}  # all 0.22.0's reader takes in an entry of ``locks``: any other, and
# every lock started in FAULT fault_record_unreadable, the file moved aside (git show 7a54e2ec:edge_agent/locks/latches.py)


def saved(path) -> dict:  # noqa: ANN001
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    return {**doc["locks"].get("L1", {}), **doc.get("held", {}).get("L1", {})}


def readable_by_0_22(path) -> bool:  # noqa: ANN001
    """0.22.0's own check of the document: version 1, ``locks`` an object, each entry's keys its three; the keys
    beside ``locks`` it passes over."""
    doc = json.loads(path.read_text())
    return doc.get("version") == 1 and isinstance(doc.get("locks"), dict) and all(
        isinstance(e, dict) and e.keys() <= OLD_KEYS for e in doc["locks"].values())


def _held_blind(make_rig, latches):
    """A rig whose presence sensor stayed clear under a car the camera saw for ``disagree_s``: held as no witness."""
    presence = {**gpio_lock()["presence"], "disagree_s": DISAGREE_S}
    rig = make_rig("gpio", position=0.0, presence=presence, latches_at=latches)
    rig.see(occupied=False, p_occupied=0.05)
    car_parks(rig, over_sensor=False)
    rig.step(DISAGREE_S + 5)
    return rig


def test_a_sensor_found_blind_is_no_witness_after_a_restart(make_rig, tmp_path):
    latches = tmp_path / "lock-latches.json"
    rig = _held_blind(make_rig, latches)
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
    rig = _held_blind(make_rig, latches)
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


def test_going_back_to_0_22_keeps_the_faults_and_maintenance_as_saved(make_rig, tmp_path):
    """The new records lie beside ``locks``, where 0.22.0 passes them over. In ``locks`` (as first written), going
    back after a clean stop with a sensor held as no witness — a hold that lasts until a car comes, days at a bay
    seldom used — started every lock of the site in FAULT ``fault_record_unreadable``, the file moved aside with
    each lock's fault code and maintenance, and the hold gone all the same on the way forward again (probe
    review38)."""
    latches = tmp_path / "lock-latches.json"
    rig = _held_blind(make_rig, latches)
    car_leaves(rig)
    assert rig.manager.set_maintenance(BAY, True, "tech").ok
    rig.manager.stop()
    assert {"presence_blind", "maintenance"} <= saved(latches).keys()
    assert readable_by_0_22(latches), latches.read_text()

    doc = json.loads(latches.read_text())  # what 0.22.0 writes back at its next change: ``held`` gone
    latches.write_text(json.dumps({"version": 1, "locks": doc["locks"]}))
    rig.restart()
    rig.step(1)
    assert "presence_blind" not in saved(latches) and "maintenance" in saved(latches)
    assert not rig.of(EventType.LOCK_FAULT)
    rig.safe()


def test_a_lock_renamed_over_a_restart_does_not_leave_its_owed_lowering_up(make_rig, tmp_path, caplog):
    """The lock's id changed in the config (``L1`` → ``gate-1``, the same pins and bay) while an NEV's lowering was
    owed: its record was dropped with the old id, the arm found up was taken as resting up in front of the NEV, and
    the log said only "its saved state dropped" (probe leftovers34). Now the dropped records are named, and an arm
    found up with no record of its own is lowered while such a move was dropped."""
    from tests.locks.conftest import agent_config

    latches = tmp_path / "lock-latches.json"
    rig = make_rig("gpio", position=1.0, latches_at=latches)
    rig.step(1)
    failing(rig.pin(DOWN), True, times=None)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    assert rig.arm.position == 1.0 and "lowering" in saved(latches)
    rig.cfg = agent_config(gpio_lock(id="gate-1"))
    rig.lock_cfg = rig.cfg.locks[0]
    with caplog.at_level("WARNING", logger="edge_agent.locks"):
        rig.restart()  # new pins: the driver works again
        rig.step(4)
    assert rig.arm.position == 0.0 and rig.state == "down", "the renamed lock's owed lowering left the arm up"
    said = [r.getMessage() for r in caplog.records if "no longer configured" in r.getMessage()]
    assert len(said) == 1 and "lock L1" in said[0] and "owed lowering (since " in said[0] and "gate-1" in said[0]
    assert "L1" not in json.loads(latches.read_text()).get("held", {})
    assert not rig.violations


def test_a_lock_removed_with_nothing_owed_leaves_the_others_up(make_rig, tmp_path):
    """Only a dropped rise or lowering lowers an arm found up: a removed lock's maintenance alone is said, and the
    arms that rest up with a record of their own stay up (one with none might be the removed lock renamed: it takes
    the maintenance, ``test_renamed_lock_latches.py``)."""
    from tests.locks.conftest import agent_config

    latches = tmp_path / "lock-latches.json"
    rig = make_rig("gpio", position=1.0, latches_at=latches)
    rig.step(1)
    assert rig.state == "up" and saved(latches) == {}
    latches.write_text(json.dumps({"version": 1, "locks": {"L9": {"maintenance": {"since": "2026-01-01T08:00:00+08:00",
                                                                                  "operator": "tech"}}},
                                   "rest": {"gate-1": {"position": "up", "since": "2026-01-01T08:00:00+08:00"}}}))
    rig.cfg = agent_config(gpio_lock(id="gate-1"))
    rig.lock_cfg = rig.cfg.locks[0]
    rig.restart()
    rig.step(4)
    assert rig.state == "up" and rig.arm.position == 1.0
