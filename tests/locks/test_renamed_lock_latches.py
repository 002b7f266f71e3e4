"""A lock renamed in the config while the agent was stopped is the same arm under another id. Its saved fault,
maintenance mode or blind sensor's hold (``lock-latches.json``) is kept by lock id: until probe locks43 a start
dropped them as "no longer configured", and a sensor known blind to parked cars was a witness again — the arm rose
40 s after the start on a free reading. Now each falls on every configured lock with no record of its own."""

from __future__ import annotations

import pytest

from edge_agent.locks.latches import LatchFile
from tests.locks.conftest import BAY


def _saved(lf: LatchFile, what: str) -> None:
    if what == "blind":
        lf.set_presence_blind("L1", "the sensor read the bay clear 600 s while the camera saw a car")
    elif what == "fault":
        lf.set_fault("L1", "motor_timeout", "the arm did not reach its end switch")
    else:
        lf.set_maintenance("L1", True, "technician")


@pytest.mark.parametrize("what", ["blind", "fault", "maintenance"])
def test_a_renamed_lock_keeps_what_held_its_arm_down(make_rig, clock, tmp_path, what):  # noqa: ANN001
    path = tmp_path / "lock-latches.json"
    _saved(LatchFile.open(path, ["L1"], clock), what)
    rig = make_rig("gpio", position=0.0, latches_at=path, id="L2")  # the same arm, renamed while stopped
    rig.step(40)  # the bay free and the sensor clear for longer than auto_raise_delay_s
    assert rig.arm.position == 0.0 and not rig.up_active(), f"a renamed lock's {what} was dropped: the arm rose"
    il = rig.manager._unit(BAY).interlock
    held = {"blind": il.presence_blind, "fault": il.fault, "maintenance": rig.manager._unit(BAY).controller.mode}
    assert held[what] not in (None, "auto"), held


def test_a_lock_with_its_own_record_takes_nothing_of_a_removed_one(make_rig, clock, tmp_path):  # noqa: ANN001
    """L1 removed, L2 kept: L2's own past (its rest position) says it is not L1 under a new name."""
    path = tmp_path / "lock-latches.json"
    lf = LatchFile.open(path, ["L1", "L2"], clock)
    lf.set_fault("L1", "motor_timeout", "the arm did not reach its end switch")
    lf.set_rest("L2", "down")
    rig = make_rig("gpio", position=0.0, latches_at=path, id="L2")
    assert rig.manager._unit(BAY).interlock.fault is None


def test_the_renamed_locks_warning_names_the_locks_that_took_its_holds(clock, tmp_path, caplog):  # noqa: ANN001
    """L1's fault and maintenance fall on L2 and L3, the locks with no record of their own: the start's warning names
    them, so an operator finding an arm held knows why (until probe locks45 it said only "every lock with no record
    of its own"). L4 has a record (its rest position) and is not named."""
    path = tmp_path / "lock-latches.json"
    lf = LatchFile.open(path, ["L1", "L4"], clock)
    lf.set_fault("L1", "motor_timeout", "the arm did not reach its end switch")
    lf.set_maintenance("L1", True, "technician")
    lf.set_rest("L4", "down")
    LatchFile.open(path, ["L2", "L3", "L4"], clock)
    (said,) = [
        r.getMessage()
        for r in caplog.records
        if "no longer configured" in r.getMessage() and r.getMessage().startswith("lock L1 ")
    ]
    assert "fault and maintenance taken by L2, L3 " in said, said
    assert "L4 (" not in said and "L4," not in said.split("taken by")[1], said


def test_an_inherited_maintenance_names_the_lock_it_came_from(make_rig, clock, tmp_path, caplog):  # noqa: ANN001
    """The lock's status (``LockNote``), its restored ``lock_maintenance`` event and the start's log name the lock
    the maintenance was saved for (until probe locks45 nothing said an arm was held by another lock's record); the
    name is kept over a second restart. A fault's message and a blind hold's reason named it already."""
    path = tmp_path / "lock-latches.json"
    _saved(LatchFile.open(path, ["L1"], clock), "maintenance")
    for _ in range(2):  # the second start reads the heir's own record, which keeps the name
        caplog.clear()
        rig = make_rig("gpio", position=0.0, latches_at=path, id="L2")
        rig.step(1)
        (ev,) = rig.of("lock_maintenance")
        assert ev.data["restored"] and ev.data["inherited_from"] == "L1", ev.data
        assert rig.manager.lock_notes()[BAY].maintenance_from == "L1"
        assert "saved before the restart for lock L1, no longer configured" in caplog.text
        rig.close()


def _from(lf: LatchFile, lock_id: str) -> str | None:
    m = lf.maintenance(lock_id)
    assert m is not None, f"{lock_id} lost its maintenance"
    return m.inherited_from


def test_an_inherited_maintenance_never_names_a_configured_lock(clock, tmp_path, caplog):  # noqa: ANN001
    """``inherited_from`` names the lock the file held the record under at this start, which is no longer
    configured. Until probe review105 it kept the first name: a rename undone (L1 → L2 → L1) left L1 saying its
    maintenance was saved "for lock L1, no longer configured", and a lock added back under the name kept left its
    heir naming a configured lock; a second rename (L2 → L3) named L1, which the start's own warning did not (it names L2)."""
    path = tmp_path / "lock-latches.json"
    LatchFile.open(path, ["L1"], clock).set_maintenance("L1", True, "technician")
    assert _from(LatchFile.open(path, ["L2"], clock), "L2") == "L1"
    caplog.clear()
    assert _from(LatchFile.open(path, ["L1"], clock), "L1") == "L2"  # the rename undone
    assert "for lock L1, no longer configured" not in caplog.text, caplog.text
    assert _from(LatchFile.open(path, ["L2"], clock), "L2") == "L1"
    assert _from(LatchFile.open(path, ["L3"], clock), "L3") == "L2"  # renamed again: the record was L2's
    caplog.clear()  # L3 kept, L2 added back beside it: L3's record names a configured lock no more
    kept = LatchFile.open(path, ["L2", "L3"], clock).maintenance("L3")
    assert kept is not None and kept.inherited_from is None, kept
    assert "no longer configured" not in caplog.text, caplog.text


def test_the_warning_names_only_the_locks_that_took_each_hold(clock, tmp_path, caplog):  # noqa: ANN001
    """L0 and L1 both faulted and removed, L2 added: L2 takes L0's fault (the first) and L1's maintenance, not L1's
    fault (it has one now). Until probe review105 L1's warning said "its fault and maintenance taken by L2", and an
    operator resetting L2 (L0's words) took L1's fault for cleared with it."""
    path = tmp_path / "lock-latches.json"
    lf = LatchFile.open(path, ["L0", "L1"], clock)
    lf.set_fault("L0", "motor_timeout", "the arm did not reach its end switch")
    lf.set_fault("L1", "motor_timeout", "the arm did not reach its end switch")
    lf.set_maintenance("L1", True, "technician")
    caplog.clear()
    LatchFile.open(path, ["L2"], clock)
    said = {r.getMessage().split()[1]: r.getMessage() for r in caplog.records
            if "no longer configured: its saved" in r.getMessage()}
    assert "its fault taken by L2 " in said["L0"], said["L0"]
    assert "its maintenance taken by L2 " in said["L1"] and "fault and maintenance taken" not in said["L1"], said["L1"]
    assert "its fault taken by no lock" in said["L1"], said["L1"]
