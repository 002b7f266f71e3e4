"""Compound failures and timing around a raise: what the interlock cannot watch must not leave an arm up.

Each test runs the lock stage as the agent builds it (``build_locks`` on gpiozero's MockFactory pins or the
simulator, the camera's evidence through a ``BayFeed``, the latch file on disk, a fake clock) and ends with the
rig's invariant: the UP output never on while a vehicle may be there.
"""

from __future__ import annotations

import errno
import json
import os

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.events.types import EventType
from edge_agent.locks import latches
from edge_agent.locks.latches import LATCH_FILE
from edge_agent.sim.scenario import NEV, Scene
from edge_agent.sim.synthetic import render
from tests.locks.conftest import BAY, Rig
from tests.locks.test_vision_paths import Frames, _MisreadsFrom, _never_up
from tests.locks.test_vision_paths import Rig as AgentRig


def kill_and_restart(rig: Rig, unwatched_s: float, car_meanwhile: bool = False) -> None:
    """SIGKILL, OOM or a watchdog reboot of the agent alone: nothing stops the motor (a relay line stays as it
    was until a process claims it again, wiring.md), so the arm runs on to its end stop with nobody watching;
    then a new lock stage is built on the same latch file and finds the arm where it is."""
    rig.arm._listeners.clear()  # the dead process hears nothing any more (its pins' callbacks are gone)
    if car_meanwhile:
        rig.arm.vehicle = True  # a car rolls in over the rising arm: nobody is there to stop it
    rig.clock.advance(unwatched_s)
    rig.arm.update()
    rig.restart(killed=True)


def test_a_rise_the_last_run_never_saw_end_is_lowered_at_start(make_rig, kind, tmp_path):
    rig = make_rig(kind, position=0.0, latches_at=tmp_path / LATCH_FILE)
    rig.watch_free()
    assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
    rig.step(1.0)
    assert rig.up_active() and 0.0 < rig.arm.position < 1.0
    n = len(rig.events)
    kill_and_restart(rig, unwatched_s=5.0, car_meanwhile=True)
    assert rig.arm.position == 1.0  # it got there, under the car, unwatched
    # before: "position read from limit switches at start-up" — state up, no fault, no event: a car over a
    # raised arm that nothing reported. The rise was allowed on evidence at its start; its end nobody checked.
    assert rig.state == "moving"
    rig.step(0.5)  # (the simulator's motor was still driving up: down after reverse_delay_s)
    assert rig.down_active()
    lowering = [e for e in rig.events[n:] if e.type == EventType.LOCK_MOVED and e.data.get("direction") == "down"]
    assert lowering[0].data.get("safety") is True and "rise" in lowering[0].data["reason"]
    rig.step(4)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.arm.vehicle = False
    rig.safe()


def test_a_rise_interrupted_after_its_motor_started_keeps_its_record(make_rig, kind, tmp_path):
    """Ctrl-C or a SIGTERM (``cli.Terminated``) is an exception in the main thread between any two lines: one
    just after the UP line went on, before the rise was noted as the lock's motion, unwound through the decision's
    clean-up, which took "no motion up" for the rise's end and dropped its record — the process then died with the
    relay on, the arm ran up unwatched (a car rolling in over it), and the next start took it as up for good. A
    decision cut short keeps the record: the next start lowers the arm."""
    rig = make_rig(kind, position=0.0, latches_at=tmp_path / LATCH_FILE)
    unit = rig.manager._units[BAY]

    def interrupted() -> None:
        raise KeyboardInterrupt

    unit.interlock._up_losses.rising = interrupted
    rig.watch_free()
    with pytest.raises(KeyboardInterrupt):
        rig.manager.lock(BAY, reason="reserve", operator="ops")
    rig.sync()
    assert rig.up_active()  # the line is on: nothing of this process will switch it off now
    kill_and_restart(rig, unwatched_s=5.0, car_meanwhile=True)
    assert rig.arm.position == 1.0
    rig.step(0.5)
    assert rig.down_active()  # before: "up", read from the switches, the car over the arm
    rig.step(4)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.arm.vehicle = False
    rig.safe()


def test_an_arm_left_up_at_rest_stays_up_over_a_restart(make_rig, kind, tmp_path):
    """The rule above is about a rise nobody saw end, not every arm found up: an arm that reached its up stop
    while watched and rested there is where the last run left it (a car cannot get over it unseen)."""
    rig = make_rig(kind, position=0.0, latches_at=tmp_path / LATCH_FILE)
    rig.watch_free()
    assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
    rig.step(4)
    assert rig.state == "up"
    kill_and_restart(rig, unwatched_s=60.0)
    assert rig.state == "up" and not rig.down_active() and not rig.up_active()
    rig.safe()


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EIO], ids=["disk_full", "read_only", "io_error"])
def test_a_rise_whose_record_cannot_be_written_is_refused_until_it_can(make_rig, kind, tmp_path, monkeypatch, err):
    """The record that lets the next start lower an arm whose rise nobody saw end could not be written (a full
    card, a data dir remounted read-only, a failing card): before, one error line and the UP line went on anyway —
    a kill mid-rise then left the arm running up unwatched and the next start took it as up for good. The rise is
    refused (``rise_unrecorded``, once per episode, the cause named), the arm stays down, and the policy's next
    raise goes ahead once the disk takes the record again."""
    path = tmp_path / LATCH_FILE
    rig = make_rig(kind, position=0.0, latches_at=path, auto_raise_delay_s=20)
    cause = os.strerror(err)

    def broken(target, data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise OSError(err, cause)

    monkeypatch.setattr(latches, "write_durably", broken)
    rig.watch_free()
    d = rig.manager.lock(BAY, reason="reserve", operator="ops")
    assert not d.ok and d.data["code"] == "rise_unrecorded"
    rig.step(21, dt=0.25)  # the policy's raise falls due and is tried at every tick
    assert not rig.up_active() and rig.state == "down" and rig.arm.position == 0.0
    refused = [e for e in rig.of(EventType.LOCK_REFUSED) if e.data["code"] == "rise_unrecorded"]
    assert len(refused) == 1  # said once for the episode, not at every tick
    assert cause in refused[0].data["reason"] and LATCH_FILE in refused[0].data["reason"]
    assert not rig.of(EventType.LOCK_FAULT) and not path.exists()
    monkeypatch.undo()  # space freed, the card remounted
    for _ in range(int(latches.RISE_RETRY_MAX_S * 10) + 2):  # the policy's rise is backed off (chaos38): within the cap
        rig.step(0.1)
        if rig.up_active():
            break
    assert rig.up_active() and json.loads(path.read_text())["locks"]["L1"]["rising"]
    rig.step(4)
    assert rig.state == "up" and "rising" not in json.loads(path.read_text())["locks"].get("L1", {})
    rig.safe()


@pytest.mark.parametrize("shifted", [False, True], ids=["camera_as_drawn", "camera_shift_tracked"])
@pytest.mark.parametrize("redraw", [1, 0], ids=["another_bay_saved", "its_own_corner_nudged"])
def test_a_reload_does_not_turn_a_held_reading_on_a_still_parked_car_into_a_departure(tmp_path, clock, redraw,
                                                                                      shifted):
    """An NEV parked in A, its arm down; from 10 s the model reads the still car empty (shade, dusk): the still-bay
    rule holds the verdict (nothing moved in the bay), not confident. Then a reload that rebuilds the bay monitor —
    the installer saves another bay or nudges A's own corner 4 px, thresholds edited and SIGHUP. A kept bay keeps
    its story (the open visit) but its classifier's memory started over, and a first verdict needs no motion ("a car
    parked at start is a car"); a redrawn outline had no change-gate reference, which counted as motion. Two
    readings of 0.05 were a confident "empty" at once, the visit departed 3 s after the reload, and the policy
    raised the arm under the parked car 20 s after that, either way. Also after a camera shift the agent tracked
    (the mast leant 4 px): a reload that redraws bays sets every outline anew on the view (``set_offset``), which
    dropped every bay's reference, and that counted as motion in each — the arm rose under the car again."""
    rig = AgentRig(tmp_path, clock, Frames(clock), _MisreadsFrom(clock, clock.monotonic() + 10))
    agent, manager, src, events = rig.agent, rig.manager, rig.src, rig.events

    def run(seconds: float) -> None:
        rig.run(seconds, lambda: _never_up(manager, "UP driven under the parked car"))

    try:
        src.next = render(Scene(cars=(NEV,)))
        if shifted:
            run(2)  # the reference view; then the mast leans 4 px right and 3 down, and the bays follow
            src.next = cv2.warpAffine(src.next, np.float32([[1, 0, 4], [0, 1, 3]]), src.next.shape[1::-1],
                                      borderMode=cv2.BORDER_REPLICATE)
            run(12)
        else:
            run(14)
        assert agent.monitor.verdicts()["A"].occupied is True and not agent.monitor.verdicts()["A"].confident
        assert (agent.monitor.offset != (0.0, 0.0)) == shifted
        data = yaml.safe_load(rig.path.read_text())
        data["bays"][redraw]["polygon"][0][0] += 4  # a bay redrawn: a new monitor, A kept with its story
        rig.path.write_text(yaml.safe_dump(data))
        assert agent.reload_config().ok
        run(60)
        assert not any(e.type == EventType.VEHICLE_DEPARTED and e.bay_id == "A" for e in events)
        assert not agent.monitor.verdicts()["A"].confident
        assert manager.state("A") == "down"
    finally:
        agent.stop()


def _camera(what: str):  # noqa: ANN202
    return lambda rig: rig.see(vision=what)


MID_RISE = {
    "camera_moved": _camera("camera_moved"),
    "camera_frozen": _camera("camera_frozen"),
    "camera_unmatched": _camera("camera_unmatched"),
    "bay_flat": _camera("bay_flat"),
    "doubt": lambda rig: rig.see(confident=False, p_occupied=0.4),
    "evidence_reset_by_a_reload": lambda rig: rig.feed.reset_vision([BAY]) or rig.see(measuring=False),
    "sensor_unhealthy": lambda rig: rig.inject("lose_presence", True),
    "bay_occupied": lambda rig: rig.bay("occupied"),
}


def test_whatever_ends_the_evidence_during_a_rise_stops_it_and_lowers_the_arm(make_rig, kind):
    """Confident and fresh when the rise was decided; then, while the arm is on its way, the camera is knocked,
    freezes, stops matching its reference, the bay is glared out, the verdict slips into doubt, a reload resets the
    evidence, the sensor goes unhealthy or the bay fills: each stops the motor on the spot and lowers the arm."""
    for name, happen in MID_RISE.items():
        rig = make_rig(kind, position=0.0)
        rig.watch_free()
        assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
        rig.step(1.0)
        assert rig.up_active(), name
        happen(rig)
        rig.step(0.1)
        assert not rig.up_active(), name
        refused = rig.of(EventType.LOCK_REFUSED)
        said = (refused and "rise aborted" in refused[-1].data["reason"]) or rig.of(EventType.LOCK_FAULT)
        assert said, name  # (a lost sensor: FAULT presence_unknown; a health output just off: the refusal)
        # lowered within 2 s; watched to its end, not at 2 s: the bay was watched free before the rise (review74), so
        # the policy's raise is due and may start again where the rig's evidence allows it once more (a reload's reset
        # followed by the rig republishing its last measurement, still younger than occupancy_max_age_s)
        for _ in range(20):
            rig.step(0.1)
            if rig.arm.position == 0.0:
                break
        assert rig.down_active() or rig.arm.position == 0.0, name
        if name != "sensor_unhealthy":
            assert rig.state != "up", name
        rig.safe()
        rig.close()


def test_a_raise_and_a_lowering_within_one_tick_end_with_the_arm_down(make_rig, kind):
    """Two operators (or a retrying backend) race: ``lock`` then ``unlock`` before the next tick, and the other
    order on a raised arm. The later word wins only where it is the safe one: the arm ends down either way."""
    rig = make_rig(kind, position=0.0)
    rig.watch_free()
    assert rig.manager.lock(BAY, reason="reserve", operator="a").ok
    assert rig.manager.unlock(BAY, reason="admit", operator="b").ok
    rig.step(4)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.step(2)
    assert rig.manager.lock(BAY, reason="reserve", operator="a").ok
    rig.step(4)
    assert rig.state == "up"
    assert rig.manager.unlock(BAY, reason="admit", operator="b").ok
    again = rig.manager.lock(BAY, reason="reserve", operator="a")
    assert not again.ok and again.data["code"] == "busy"
    rig.step(4)
    assert rig.state == "down" and rig.arm.position == 0.0
    rig.safe()


def test_evidence_from_before_the_machine_slept_is_as_old_as_the_sleep(monkeypatch):
    """A Jetson suspended (``systemctl suspend``, a power-save mode, a VM's host asleep) for an hour: Linux's
    CLOCK_MONOTONIC — ``time.monotonic()`` — stands still meanwhile, so the camera's evidence measured just before
    it read seconds old on waking, and a ``lock`` (or the policy's due raise) went up on a picture an hour old.
    The agent's clock counts the time asleep (CLOCK_BOOTTIME): that evidence is stale."""
    import time

    from edge_agent.clock import SystemClock
    from edge_agent.events.types import BayState, BayVision
    from edge_agent.locks.rule import VehicleEvidence, vehicle_possible
    from edge_agent.locks.simulator import Arm, SimulatedLock
    from tests.locks.conftest import agent_config, sim_lock

    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is None:
        pytest.skip("no CLOCK_BOOTTIME on this system")
    slept = [0.0]
    real = time.clock_gettime
    monkeypatch.setattr(time, "clock_gettime", lambda c: real(c) + (slept[0] if c == boottime else 0.0))
    clock = SystemClock(sync=lambda: None)
    cfg = agent_config(sim_lock(simulator={"presence": False})).locks[0]
    driver = SimulatedLock(Arm(clock, has_presence=False))
    measured = clock.monotonic()
    evidence = VehicleEvidence(bay_state=BayState(BAY, "free", since="2026-01-01T08:00:00+08:00"),
                               vision=lambda: BayVision(measured, 0.05, False, True, "ok"))
    assert vehicle_possible(driver, evidence, cfg, clock.monotonic()) is None  # fresh: an empty bay
    slept[0] = 3600.0  # the machine sleeps an hour; CLOCK_MONOTONIC does not move
    why = vehicle_possible(driver, evidence, cfg, clock.monotonic())
    assert why is not None and why[0] == "occupancy_stale", why


def _cycles(rig: Rig, n: int) -> None:
    """``n`` full strokes each way, watched: what the interlock learns an arm's stroke from."""
    for _ in range(n):
        assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
        rig.step(4)
        assert rig.state == "down"
        rig.watch_free()
        assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
        rig.step(4)
        assert rig.state == "up"


def test_a_down_switch_that_closes_halfway_down_is_no_lowered_arm(make_rig, kind):
    """The arm takes 3 s from its up switch to its down switch. Lowered for an NEV, its down switch closes after
    1.1 s (a stone or ice pressing the lever, a switch stuck shut, a wire chafed to ground): the motor stopped on
    that first edge and the lock said ``down`` with the arm 60 % up — the NEV admitted over it, nothing said. A
    whole stroke that ends in under half the arm's own (the last strokes it made) did not reach the end: the
    lowering runs on for the arm's stroke (down is always safe) and the lock latches FAULT ``switch_early``."""
    rig = make_rig(kind, position=1.0)
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="NEV", operator="ops").ok
    rig.step(1.1)
    assert 0.5 < rig.arm.position < 0.7 and rig.down_active()
    rig.inject("stick_switch", "down", True)
    rig.step(0.2)
    assert rig.down_active()  # before: stopped at once, state "down", the arm half up
    rig.step(2.0)
    assert rig.arm.position == 0.0 and not rig.down_active()
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "switch_early"
    rig.safe()


def test_an_up_switch_that_closes_halfway_up_faults_and_lowers(make_rig, kind):
    """The same on the way up: an up switch that closes a fifth into the stroke is not the arm up; the lock
    said ``up`` with the arm half raised (a car could drive over it, nothing reserved). FAULT, lowered."""
    rig = make_rig(kind, position=1.0)
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(4)
    assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
    rig.step(0.6)
    rig.inject("stick_switch", "up", True)
    rig.step(0.2)
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "switch_early"
    rig.inject("stick_switch", "up", None)
    rig.step(4)
    assert rig.arm.position == 0.0
    rig.safe()


def test_an_arm_made_faster_is_learned_anew_after_the_reset(make_rig, kind):
    """A technician fits a new motor or battery: the arm now takes 1.2 s, against the 3 s strokes learned. Its
    first whole rise ends in under half of that: FAULT ``switch_early``, lowered (nothing tells a faster arm from
    a switch pressed early). The operator looks and resets. Before, the learned strokes were kept over the reset
    and a stroke called early was never learned, so every later rise faulted the same way until the agent was
    restarted: the lock unusable. A reset is someone having looked at the arm: its stroke is learned anew."""
    rig = make_rig(kind, position=1.0)
    _cycles(rig, 3)
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(4)
    rig.arm.travel_time_s = 1.2  # a new motor (or a fresh battery after a sagging one)
    assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
    rig.step(1.5)
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "switch_early"
    rig.step(2)
    assert rig.arm.position == 0.0
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(0.5)
    assert rig.state == "down"
    rig.step(300, dt=1.0)  # the motor's duty limit (max_moves) rests
    for _ in range(4):
        assert rig.manager.lock(BAY, reason="reserve", operator="ops").ok
        rig.step(2)
        assert rig.state == "up", rig.of(EventType.LOCK_FAULT)[-1].data  # before: switch_early at every rise
        assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
        rig.step(2)
        assert rig.state == "down"
    rig.safe()
