"""A latched FAULT and maintenance mode survive a restart of the agent, until an operator clears them.

Before: both lived in memory only. A restart (crash and systemd, power cut, ``systemctl restart``)
read the switches afresh: a lock whose motor had timed out, or whose arm would not stay up, came
back ``down`` in automatic mode and the policy raised it ``auto_raise_delay_s`` later with nobody
having looked; one lifted by hand onto its up switch meanwhile came back ``up`` and stayed there;
a lock held down for a technician rose under their hands. Now ``{data_dir}/lock-latches.json``
keeps them (``locks/latches.py``); an unreadable file faults every lock, never "no fault".
Each restart here is a real one: drivers closed, pins reset, a new lock stage built on the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.config.load import load_config
from edge_agent.events.schemas import first_error
from edge_agent.events.types import Event, EventType
from edge_agent.locks.latches import LATCH_FILE, UNREADABLE, LatchFile
from edge_agent.locks.manager import LockManager
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold
from edge_agent.sim.synthetic import BAYS, H, W
from tests.locks.conftest import BAY, Rig
from tests.locks.test_reload_sensors import FPS, NoPlates

DELAY_S = 30.0  # auto_raise_delay_s's default: the policy's wait for a free bay


def raises_since(rig: Rig, n_events: int) -> int:
    return sum(1 for e in rig.events[n_events:] if e.type == EventType.LOCK_MOVED and e.data.get("direction") == "up")


def saved(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["locks"]


def assert_on_schema(ev: Event) -> None:
    err = first_error("event.json", ev.to_dict())
    assert err is None, err


def motor_timeout(rig: Rig) -> Event:
    """A raise whose motor runs and whose arm does not move: FAULT ``motor_timeout``, lowered."""
    rig.inject("stall", True)
    rig.watch_free()
    assert rig.manager.lock(BAY, reason="test", operator="ops").ok
    while rig.state != "fault":
        rig.step(0.1)
    rig.inject("stall", False)  # the gear catches again (nothing says so but an operator's look): lowered
    rig.step(4)
    assert rig.state == "fault" and rig.arm.position == 0.0
    return rig.of(EventType.LOCK_FAULT)[-1]


def test_a_fault_survives_a_restart_until_the_operator_resets_it(make_rig, kind, tmp_path):
    path = tmp_path / LATCH_FILE
    rig = make_rig(kind, position=0.0, latches_at=path)
    fault = motor_timeout(rig)
    assert fault.data["code"] == "motor_timeout" and "restored" not in fault.data
    assert saved(path)["L1"]["fault"] == {"code": "motor_timeout", "message": fault.data["message"], "since": fault.ts}
    rig.inject("move_to", 1.0)  # someone lifts the arm onto its up switch while it is faulted
    rig.step(1)

    n = len(rig.events)
    rig.inject("power_loss")
    rig.restart()
    # before: state "up" (the switches' word), fault forgotten; now the fault is back and the arm goes down
    assert rig.state == "fault" and rig.down_active()
    restored = rig.of(EventType.LOCK_FAULT)[-1]
    assert rig.events.index(restored) >= n
    assert restored.data["code"] == "motor_timeout" and restored.data["restored"] is True
    assert restored.data["since"] == fault.ts and restored.data["message"] == fault.data["message"]
    assert_on_schema(fault)
    assert_on_schema(restored)
    assert rig.of(EventType.LOCK_MOVED)[-1].data["state"] == "fault"  # the bay card shows it (bays monitor)

    rig.step(10 * DELAY_S)  # a free bay, fresh evidence: the policy would have raised 10 times over
    assert rig.state == "fault" and rig.arm.position == 0.0 and raises_since(rig, n) == 0
    res = rig.manager.lock(BAY, reason="operator tries", operator="ops")
    assert not res.ok and res.data["code"] == "fault"

    rig.restart()  # a second restart changes nothing: still the first fault, with its first time
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["since"] == fault.ts
    rig.step(DELAY_S)
    assert raises_since(rig, n) == 0

    assert rig.manager.reset(BAY, "tech").ok and rig.state == "down"
    assert saved(path) == {}
    rig.step(DELAY_S + 4)  # the bay is free: the policy raises again on its own
    assert rig.state == "up" and raises_since(rig, n) == 1
    n_faults = len(rig.of(EventType.LOCK_FAULT))
    rig.restart()  # and a restart after the reset is an ordinary start
    assert rig.state == "up" and len(rig.of(EventType.LOCK_FAULT)) == n_faults
    rig.safe()


def test_a_refused_reset_keeps_the_saved_fault(make_rig, tmp_path):
    path = tmp_path / LATCH_FILE
    rig = make_rig("sim", position=0.0, latches_at=path)
    rig.inject("lose_presence", True)
    rig.step(0.2)
    assert rig.state == "fault" and saved(path)["L1"]["fault"]["code"] == "presence_unknown"
    assert not rig.manager.reset(BAY, "tech").ok  # the sensor is still lost
    assert saved(path)["L1"]["fault"]["code"] == "presence_unknown"
    rig.inject("lose_presence", False)
    rig.restart()  # the sensor is back by now, but nobody has looked: still faulted
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["restored"] is True
    assert rig.manager.reset(BAY, "tech").ok and saved(path) == {}
    rig.safe()


def test_maintenance_mode_survives_a_restart(make_rig, kind, tmp_path):
    path = tmp_path / LATCH_FILE
    rig = make_rig(kind, position=1.0, latches_at=path)
    assert rig.manager.set_maintenance(BAY, True, "tech").ok
    rig.step(4)
    assert rig.arm.position == 0.0 and saved(path)["L1"]["maintenance"]["operator"] == "tech"
    rig.inject("move_to", 1.0)  # the technician works on the arm; the power goes
    rig.inject("power_loss")
    n = len(rig.events)
    rig.restart()
    # before: automatic mode, the arm left up and raised again by the policy; now held down
    assert rig.manager.status()[BAY]["mode"] == "maintenance" and rig.down_active()
    rig.step(10 * DELAY_S)
    assert rig.state == "down" and rig.arm.position == 0.0 and raises_since(rig, n) == 0
    res = rig.manager.lock(BAY, reason="remote", operator="ops")
    assert not res.ok and res.data["code"] == "maintenance"
    assert rig.manager.set_maintenance(BAY, False, "tech").ok and saved(path) == {}
    rig.step(DELAY_S + 4)
    assert rig.state == "up" and raises_since(rig, n) == 1
    assert not rig.violations


@pytest.mark.parametrize("content", [
    b"{\"version\": 1, \"locks\": {\"L1\": {\"fau",  # cut short
    b"",  # a zero-length file, as a power cut after an unsynced write leaves it
    b"\xff\xfe\x00garbage",
    b"[]",
    b"{\"version\": 2, \"locks\": {}}",  # a newer agent's file: not understood, so not trusted
    b"{\"version\": 1, \"locks\": {\"L1\": {\"fault\": {\"code\": 5, \"message\": \"m\", \"since\": \"x\"}}}}",
    b"{\"version\": 1, \"locks\": {\"L1\": {\"fault\": {\"code\": \"arm_drift\", \"message\": \"m\", "
    b"\"since\": \"2026-01-01T08:00:00\"}}}}",  # a time without its offset
    b"{\"version\": 1, \"locks\": {}, \"held\": [\"L1\"]}",
    b"{\"version\": 1, \"locks\": {}, \"held\": {\"L1\": {\"presence_blind\": {\"since\": "
    b"\"2026-01-01T08:00:00+08:00\"}}}}",  # a hold with no reason
    b"{\"version\": 1, \"locks\": {}, \"held\": {\"L1\": {\"lowering\": {}}}}",
    b"{\"version\": 1, \"locks\": {}, \"rest\": {\"L1\": {\"position\": \"middle\", "
    b"\"since\": \"2026-01-01T08:00:00+08:00\"}}}",  # a rest that is no end
    b"{\"version\": 1, \"locks\": {}, \"rest\": {\"L1\": {\"position\": \"up\"}}}",
], ids=["truncated", "empty", "binary", "not_an_object", "version", "bad_code", "naive_since", "held_list",
        "blind_no_reason", "lowering_no_since", "rest_middle", "rest_no_since"])
def test_an_unreadable_file_faults_the_lock(make_rig, tmp_path, content):
    path = tmp_path / LATCH_FILE
    path.write_bytes(content)
    rig = make_rig("gpio", position=1.0, latches_at=path)
    assert rig.state == "fault" and rig.down_active()  # before the fix: "up", nothing latched
    ev = rig.of(EventType.LOCK_FAULT)[-1]
    assert ev.data["code"] == UNREADABLE and ev.data["restored"] is True and "check the lock" in ev.data["message"]
    assert_on_schema(ev)
    aside = list(tmp_path.glob(f"{LATCH_FILE}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content  # kept for whoever investigates
    assert saved(path)["L1"]["fault"]["code"] == UNREADABLE
    rig.step(2 * DELAY_S)
    assert rig.state == "fault" and rig.arm.position == 0.0
    assert rig.manager.reset(BAY, "tech").ok and saved(path) == {}
    rig.safe()


def test_an_unreadable_file_faults_every_configured_lock(tmp_path, caplog):
    path = tmp_path / LATCH_FILE
    path.write_text("{oops", encoding="utf-8")
    latches = LatchFile.open(path, ["L1", "L2", "L3"], FakeClock())
    assert {k: latches.fault(k).code for k in ("L1", "L2", "L3")} == dict.fromkeys(("L1", "L2", "L3"), UNREADABLE)
    assert set(saved(path)) == {"L1", "L2", "L3"}  # also after another restart before anyone resets
    err = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(err) == 1 and "every lock starts in FAULT fault_record_unreadable" in err[0].getMessage()


def test_a_folder_in_place_of_the_file_faults_the_locks(tmp_path):
    """Not a parse error but an OSError on reading: failing safe the same way."""
    path = tmp_path / LATCH_FILE
    path.mkdir()
    (path / "x").write_text("something")
    latches = LatchFile.open(path, ["L1"], FakeClock())
    fault = latches.fault("L1")
    assert fault is not None and fault.code == UNREADABLE and "a folder" in fault.message
    assert saved(path)["L1"]["fault"]["code"] == UNREADABLE  # the folder moved aside, a file written in its place


def test_a_fifo_or_a_link_at_the_file_faults_the_locks_at_once(tmp_path):
    """The data folder may be written by others: a FIFO planted at the file's name held ``run``'s start for ever
    (no lock driven), and a link was read as the agent's own record (one to ``/dev/zero`` until memory ran out).
    Neither is a file the agent wrote: the start fails safe, as for a damaged one, and goes on."""
    import os

    from tests.fifo_reads import without_waiting

    fifo = tmp_path / LATCH_FILE
    os.mkfifo(fifo)
    opened = without_waiting(lambda: LatchFile.open(fifo, ["L1"], FakeClock()), fifo)
    fault = opened.fault("L1")
    assert fault is not None and fault.code == UNREADABLE and saved(fifo)["L1"]["fault"]["code"] == UNREADABLE

    other = tmp_path / "other"
    other.mkdir()
    (other / "clean.json").write_text("{}", encoding="utf-8")
    link = other / LATCH_FILE
    link.symlink_to(other / "clean.json")
    fault = LatchFile.open(link, ["L1"], FakeClock()).fault("L1")
    assert fault is not None and fault.code == UNREADABLE  # not read through: no record says the lock is clean
    assert not link.is_symlink() and (other / "clean.json").read_text(encoding="utf-8") == "{}"


def test_a_removed_lock_loses_its_entry_and_a_new_lock_takes_its_holds(tmp_path):
    """L2 left the config and L9 joined: the file cannot tell a rename from a removal and an addition, so L9 (no
    record of its own) takes L2's fault and maintenance (probe locks43: until then it started with none); L1, with
    its own record, takes nothing."""
    path = tmp_path / LATCH_FILE
    clock = FakeClock()
    old = LatchFile.open(path, ["L1", "L2"], clock)
    old.set_fault("L1", "arm_drift", "drift")
    old.set_fault("L2", "motor_timeout", "stall")
    old.set_maintenance("L2", True, "tech")
    new = LatchFile.open(path, ["L1", "L9"], clock)  # L2 left the config, L9 joined
    assert new.fault("L1") is not None and new.fault("L1").code == "arm_drift"
    assert new.fault("L9") is not None and new.fault("L9").code == "motor_timeout" and "L2" in new.fault("L9").message
    assert new.maintenance("L9") is not None and new.maintenance("L9").operator == "tech"
    assert set(saved(path)) == {"L1", "L9"}  # the stale entry is gone from the file too
    new.clear_fault("L9")  # reset
    new.set_maintenance("L9", False)
    again = LatchFile.open(path, ["L1", "L2"], clock)  # L2 back: a fresh lock, its old fault not revived
    assert again.fault("L2") is None and again.maintenance("L2") is None


def test_the_file_is_replaced_whole_and_no_temp_file_is_left(tmp_path):
    path = tmp_path / LATCH_FILE
    clock = FakeClock()
    latches = LatchFile.open(path, ["L1"], clock)
    assert not path.exists()  # nothing latched, nothing written
    latches.set_fault("L1", "switches_both", "both limit switches active")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["version"] == 1 and doc["locks"]["L1"]["fault"]["since"].endswith("+08:00")
    latches.clear_fault("L1")
    assert saved(path) == {} and sorted(p.name for p in tmp_path.iterdir()) == [LATCH_FILE]


def test_the_agent_built_twice_on_one_data_dir_keeps_the_fault(tmp_path, clock):  # noqa: ANN001
    """The runtime's own wiring (``attach_locks``): the file lies in ``data_dir``; the bay card shows the fault."""
    cfg_path = tmp_path / "agent.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "site": {"site_id": "s", "device_id": "d"},
        "camera": {"source": "0", "fps": FPS, "width": W, "height": H},
        "bays": [{"id": b, "polygon": [list(p) for p in BAYS[b]]} for b in ("A", "B")],
        "locks": [{"id": f"L{b}", "bay": b, "driver": "simulator", "simulator": {"travel_time_s": 1.0, "start": "down"}}
                  for b in ("A", "B")],
        "data_dir": str(tmp_path / "data"),
    }))

    def build(scene: Scene = EMPTY) -> tuple[Agent, LockManager]:
        agent = Agent(load_config(cfg_path), clock=clock, source=ScriptedSource(hold(600, scene), clock),
                      reader=NoPlates())
        manager = attach_locks(agent, thread=False)
        agent.start()
        return agent, manager

    def run(agent: Agent, manager: LockManager, seconds: float) -> None:
        for _ in range(int(seconds * FPS)):
            agent.step()
            manager.tick()
            clock.advance(1 / FPS)

    # a car stays parked in B: the remote lock's wait for A seen free (auto_raise_delay_s) would let the policy
    # raise B too; B's arm stays down, as it did before the wait, and B faults not with A
    agent, manager = build(Scene(cars=(FUEL,)))
    try:
        run(agent, manager, 2)
        manager.simulate("A", "stall", {})
        while manager._unit("A").controller._unwatched_left() is not None:  # A seen free for the delay
            run(agent, manager, 1 / FPS)
        assert agent.lock("A", "test", "ops").ok
        run(agent, manager, 7)
        assert manager.state("A") == "fault" and manager.state("B") == "down"
    finally:
        agent.stop()
    assert set(saved(tmp_path / "data" / LATCH_FILE)) == {"LA"}

    agent, manager = build()  # the restart: a new agent on the same data_dir
    try:
        run(agent, manager, 2 * DELAY_S)
        assert manager.state("A") == "fault" and manager.state("B") == "up"  # B: a new start, raised by the policy
        assert agent.bus.states()["A"].lock == "fault"  # the review page's bay card
        assert agent.reset_lock("A", "tech").ok
        assert saved(tmp_path / "data" / LATCH_FILE) == {}
    finally:
        agent.stop()


def test_maintenance_mode_is_on_the_record_when_set_cleared_and_kept_over_a_restart(make_rig, tmp_path):
    """A bay held down for a technician who then left stayed down for good, and only the command's author knew:
    an arm already down does not move (no lock_moved), and neither the bay state nor the heartbeat says
    maintenance. Each change of mode is an event now, with who and since when, and so is one kept over a restart."""
    path = tmp_path / LATCH_FILE
    rig = make_rig("sim", position=0.0, latches_at=path)
    assert rig.state == "down"
    assert rig.manager.set_maintenance(BAY, True, "tech").ok
    assert rig.manager.set_maintenance(BAY, True, "tech").ok  # said again: no second event
    on = rig.of("lock_maintenance")
    since = saved(path)["L1"]["maintenance"]["since"]
    assert [(e.bay_id, e.data) for e in on] == [(BAY, {"lock_id": "L1", "on": True, "operator": "tech",
                                                       "since": since})]
    rig.restart()
    kept = rig.of("lock_maintenance")[-1].data
    assert kept == {"lock_id": "L1", "on": True, "operator": "tech", "since": since, "restored": True}
    rig.clock.advance(3600)
    assert rig.manager.set_maintenance(BAY, False, "ops").ok
    assert rig.manager.set_maintenance(BAY, False, "ops").ok  # already automatic: no event
    off = rig.of("lock_maintenance")
    assert len(off) == 3 and off[-1].data == {"lock_id": "L1", "on": False, "operator": "ops", "since": since}
    for ev in off:
        assert first_error("event.json", ev.to_dict()) is None


def test_two_unreadable_files_in_one_second_keep_both_copies(make_rig, tmp_path):
    """A crash-looping start on a failing card damages the file twice in one second: the second copy set aside was
    named by the second as the first and replaced it, the first unreadable file lost to whoever investigates
    (probe chaos41). Numbered like the databases' damaged copies (``sqlite_damage.move_aside``)."""
    path = tmp_path / LATCH_FILE
    contents = [b"{\"version\": 1, \"locks\": {\"L1\": {\"fau", b"\xff\xfe\x00garbage"]
    rigs = []
    for content in contents:  # both starts at the same clock time
        path.write_bytes(content)
        rigs.append(make_rig("gpio", position=1.0, latches_at=path))
        assert rigs[-1].state == "fault"
    for rig in rigs:
        rig.step(2 * DELAY_S)
        rig.safe()
    kept = sorted(p.read_bytes() for p in tmp_path.glob(f"{LATCH_FILE}.corrupt-*"))
    assert kept == sorted(contents), "the first unreadable file's copy was replaced by the second's"


def test_damaged_copies_of_the_file_are_bounded(tmp_path):
    """A card that damages the file at every start (worn, a supply that browns out) set a copy aside at each
    restart, for ever: the databases' copies were bounded, the latch file's never were (probe chaos42). The newest
    ``KEEP_ASIDE`` are kept, the last one among them."""
    from edge_agent.sqlite_damage import KEEP_ASIDE

    path, clock = tmp_path / LATCH_FILE, FakeClock()
    for n in range(KEEP_ASIDE + 4):
        path.write_bytes(b"{oops %d" % n)
        assert LatchFile.open(path, ["L1"], clock).fault("L1") is not None
        clock.advance(60)
    kept = [p.read_bytes() for p in tmp_path.glob(f"{LATCH_FILE}.corrupt-*")]
    assert len(kept) == KEEP_ASIDE, f"{len(kept)} damaged copies kept"
    assert b"{oops %d" % (KEEP_ASIDE + 3) in kept


def test_the_first_damaged_copy_outlives_a_card_that_damages_the_file_at_every_start(tmp_path):
    """Only the first copy holds what was latched (a lock's FAULT, maintenance): from the next start on, the file
    set aside is the agent's own fail-safe document (every lock ``fault_record_unreadable``) damaged again. Pruned
    to the newest ``KEEP_ASIDE``, the first went at the fourth such start, and whoever investigates kept only the
    agent's own copies (probe review102). The first is kept with the newest."""
    from edge_agent.sqlite_damage import KEEP_ASIDE

    path, clock = tmp_path / LATCH_FILE, FakeClock()
    first = b'{"version": 1, "locks": {"L2": {"fault": {"code": "obstruction", "message": "arm blocked'  # cut short
    path.write_bytes(first)
    for _ in range(KEEP_ASIDE + 3):
        assert LatchFile.open(path, ["L1", "L2"], clock).fault("L1") is not None
        written = path.read_bytes()
        path.write_bytes(written[: len(written) // 2])  # the card damages what this start wrote
        clock.advance(60)
    LatchFile.open(path, ["L1", "L2"], clock)
    kept = [p.read_bytes() for p in tmp_path.glob(f"{LATCH_FILE}.corrupt-*")]
    assert len(kept) == KEEP_ASIDE, f"{len(kept)} damaged copies kept"
    assert first in kept, "the copy holding what was latched was deleted"
