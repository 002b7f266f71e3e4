"""The motor's duty within one boot, whatever the wall clock does (probe lock37).

The saved starts (``lock-latches.json`` ``starts``) were aged on the wall clock alone: the monotonic clock starts again
at a reboot. Within one boot it does not, so each start is saved with the boot it was made in and its monotonic time
(``start_marks``): a restart in the same boot counts them exactly. Before, a crash loop (systemd's ``Restart=``) whose
wall clock stepped between its restarts — NTP stepping it, a time source that flaps an hour either way — found the saved
starts an hour old at each forward step: the duty empty, the start's own drive driven again. Across boots only the wall
clock links the starts, as before (``tests/locks/test_duty_boot_clock.py``).

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

import json
import random

from edge_agent.clock import FakeClock, read_boot_id
from edge_agent.locks.interlock import _ages
from edge_agent.locks.latches import StartMark
from tests.locks.conftest import BAY, Rig
from tests.locks.test_crash_loop_duty import RESTART_S, _down_starts, _most_in_a_window

HOUR = 3600.0


def _pushed_down_while_stopped(make_rig, kind: str, path) -> Rig:  # noqa: ANN001
    """As ``test_crash_loop_duty``'s, in one boot: each start reads ``down`` where the last run left the arm ``up`` and
    drives the run-on for ``motor_timeout_s``."""
    rig = make_rig(kind, position=0.0, latches_at=path, boot_id="boot-a")
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(4)
    rig.manager.stop()
    rig.arm.position = 0.0
    rig.restart(killed=True)
    assert rig.down_active()
    return rig


def _flapping_wall_loop(rig: Rig, kills: int, seed: int) -> None:
    """A crash loop in one boot, the wall clock stepped an hour forward or back before each start."""
    rnd = random.Random(seed)
    ahead = False
    for _ in range(kills):
        rig.step(rnd.uniform(0.3, rig.lock_cfg.motor_timeout_s - 0.1))
        rig.arm.set_drive(None)  # the process died: its motor lines released
        rig.clock.advance(RESTART_S)
        rig.clock.step_wall(-HOUR if ahead else HOUR)
        ahead = not ahead
        rig.restart(killed=True)


def test_a_crash_loop_in_one_boot_keeps_to_the_duty_whatever_the_wall_clock_does(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    t0 = rig.clock.monotonic()
    _flapping_wall_loop(rig, 40, seed=37)
    starts = _down_starts(rig, t0)
    window, most = rig.lock_cfg.max_moves_window_s, rig.lock_cfg.max_moves
    assert _most_in_a_window(starts, window) <= most, (len(starts), starts)  # before: 20 in 300 s
    marks = json.loads(path.read_text())["start_marks"]["L1"]
    assert len(marks) == most and {m["boot"] for m in marks} == {"boot-a"}
    rig.safe()


def test_the_held_lowering_still_starts_once_the_motor_may(make_rig, kind, tmp_path):
    """The monotonic clock ends the wait within one window, whatever the wall clock does meanwhile."""
    path = tmp_path / "lock-latches.json"
    rig = _pushed_down_while_stopped(make_rig, kind, path)
    _flapping_wall_loop(rig, 14, seed=1)
    t1 = rig.clock.monotonic()
    rig.step(rig.lock_cfg.max_moves_window_s + rig.lock_cfg.motor_timeout_s + 1)
    assert _down_starts(rig, t1), "the held lowering never started"
    rig.safe()


def test_ages_in_this_boot_are_the_monotonic_clocks():
    """The newest start of this boot is aged on the monotonic clock; two of one earlier boot are spaced on its
    monotonic clock; a start of another boot after them is linked to them on the wall clock."""
    clock = FakeClock()
    wall = clock.now()
    starts = [wall.replace(hour=h) for h in (1, 2, 3, 9)]  # wall times an hour apart and more: a clock that stepped
    marks = [StartMark("old", 100.0), StartMark("old", 110.0), None, StartMark("now", 950.0)]
    ages, stepped = _ages(starts, wall, marks, "now", 1000.0)
    assert not stepped
    assert ages[3] == 50.0  # this boot: the monotonic clock, not the wall (which says 8 h ahead)
    assert ages[2] == 50.0 + 6 * HOUR  # another boot: the wall's spacing
    assert ages[1] == ages[2] + HOUR and ages[0] == ages[1] + 10.0  # the same earlier boot: its monotonic spacing
    # this boot's id not known (None): the newest is read on the wall clock, as before: ahead of it, taken as now
    ages, stepped = _ages(starts, wall, marks, None, 1000.0)
    assert stepped and ages[3] == 0.0


def test_the_boot_id_is_read_as_the_kernel_writes_it_or_not_at_all(tmp_path):
    """The kernel's boot id (a UUID and a newline); anything else, or nothing there, is no boot id: every start is then
    read on the wall clock alone, as before."""
    f = tmp_path / "boot_id"
    f.write_text("467fc0d6-35f9-494d-9b8b-bf2aa35bc4f8\n")
    assert read_boot_id(f) == "467fc0d6-35f9-494d-9b8b-bf2aa35bc4f8"
    for bad in ("", "x" * 65, "../../etc\n", "\xff"):
        f.write_text(bad, encoding="latin-1")
        assert read_boot_id(f) is None, bad
    assert read_boot_id(tmp_path / "missing") is None


def test_the_agent_marks_its_starts_with_this_boot_on_the_system_clock_only(tmp_path, clock):  # noqa: ANN001
    """The agent's assembly hands the boot id to the locks' file with the system's clock, and with a simulated one
    (a demo's, a test's) none: unwired, every test above passed and the agent aged its starts on the wall clock alone
    (review64)."""
    from edge_agent.clock import SystemClock
    from edge_agent.runtime.agent import Agent
    from edge_agent.runtime.assemble import attach_locks
    from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config
    from tests.locks.test_agent_locks import _NoPlates

    boot = read_boot_id()
    if boot is None:  # pragma: no cover - not Linux
        import pytest
        pytest.skip("no boot id on this system")
    for name, clk in (("system", SystemClock()), ("fake", clock)):
        data = tmp_path / name
        locks = [{"id": "lock-A", "bay": "A", "driver": "simulator", "simulator": {"travel_time_s": 2.0,
                                                                                   "start": "up"}}]
        agent = Agent(scene_config(str(data), locks=locks), clock=clk,
                      source=ScriptedSource(hold(30, EMPTY), clk), reader=_NoPlates())
        manager = attach_locks(agent, thread=False)
        agent.start()
        try:
            assert manager.unlock("A", "visitor", "ops").ok  # a lowering: a motor start, saved with its record
        finally:
            agent.stop()
        doc = json.loads((data / "lock-latches.json").read_text())
        assert len(doc["starts"]["lock-A"]) == 1
        marks = doc.get("start_marks", {}).get("lock-A")
        if name == "system":
            assert marks is not None and marks[0]["boot"] == boot, doc
        else:
            assert marks is None, doc
