"""Commands that alternate fast (an operator clicking lock / unlock, a backend retrying): the relays never drive
the motor the other way sooner than ``reverse_delay_s`` after it stopped, and the arm's own moves are not taken for
someone moving it by hand. On MockFactory pins and on the simulator."""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, Rig


def drives(rig: Rig, seconds: float, log: list[tuple[float, str | None]]) -> None:
    """Step in 50 ms slices, noting the direction the motor lines drive after each."""
    for _ in range(round(seconds / 0.05)):
        rig.step(0.05, dt=0.05)
        log.append((rig.clock.monotonic(), "up" if rig.up_active() else "down" if rig.down_active() else None))


def reversals_sooner_than(log: list[tuple[float, str | None]], delay: float) -> list[str]:
    out, last_on = [], {}
    for t, d in log:
        if d is not None:
            other = "down" if d == "up" else "up"
            if other in last_on and t - last_on[other] < delay - 1e-9:
                out.append(f"t={t:.2f}: {d} {t - last_on[other]:.2f}s after {other}")
            last_on[d] = t
    return out


def test_no_reversal_sooner_than_reverse_delay_after_a_move_ends_at_its_switch(make_rig, kind):
    rig = make_rig(kind, position=0.0)
    delay = rig.lock_cfg.reverse_delay_s
    log: list[tuple[float, str | None]] = []
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    while rig.state != "up":
        drives(rig, 0.05, log)
    res = rig.manager.unlock(BAY, "an NEV", "ops")  # at once: the motor drove up until this tick
    assert res.ok
    while rig.state != "down":
        drives(rig, 0.05, log)
    res = rig.manager.lock(BAY, "close again", "ops")  # at once after the lowering ended at its switch
    assert not res.ok and res.data["code"] == "busy", res
    drives(rig, delay + 0.05, log)  # one slice more: the stop fell somewhere in the last one
    assert rig.manager.lock(BAY, "close again", "ops").ok
    drives(rig, 4, log)
    assert rig.state == "up"
    assert not reversals_sooner_than(log, delay), reversals_sooner_than(log, delay)
    rig.safe()


def test_rises_stopped_at_their_start_are_not_uncommanded_switch_changes(make_rig, kind):
    """A rise stopped within its first ``switch_debounce_s`` left the down switch while driven, but the change was
    judged after the stop, as if someone had lifted the arm: three such stops latched FAULT switch_flapping."""
    rig = make_rig(kind, position=0.0)
    for _ in range(4):
        rig.watch_free()
        assert rig.manager.lock(BAY, "close", "ops").ok
        rig.step(0.05, dt=0.05)
        assert rig.manager.unlock(BAY, "an NEV after all", "ops").ok
        for _ in range(40):
            rig.step(0.05, dt=0.05)
            if rig.state == "down":
                break
        assert rig.state == "down"
        rig.step(0.5)
    assert not rig.of("lock_fault") and not rig.of("lock_tamper"), [e.data for e in rig.events if "lock_" in e.type]
    rig.safe()


def test_a_lock_unlock_flood_cannot_run_the_motor_past_its_duty(make_rig, kind):
    """lock / unlock every 3.5 s on an empty bay (a backend retrying in a loop, anyone who may publish a command):
    before, the motor ran 86 % of 10 minutes, 179 starts. Raises are held back once max_moves starts fall in
    max_moves_window_s (refused motor_duty, said once); a lowering never is, so the flood ends with the arm down."""
    rig = make_rig(kind, position=0.0)
    cfg = rig.lock_cfg
    log: list[tuple[float, str | None]] = [(rig.clock.monotonic(), None)]  # the motor at rest before
    unlocks = []
    for i in range(170):
        if i % 2 == 0:
            rig.manager.lock(BAY, "flood", "backend")
        else:
            unlocks.append(rig.manager.unlock(BAY, "flood", "backend"))
        drives(rig, 3.5, log)
    starts = [(t, d) for (t, d), (_, before) in zip(log[1:], log) if d is not None and d != before]
    window = cfg.max_moves_window_s
    busiest = max(sum(1 for s, _ in starts if t <= s < t + window) for t, _ in starts)
    assert busiest <= cfg.max_moves, busiest
    refused = [e for e in rig.of("lock_refused") if e.data["code"] == "motor_duty"]
    assert refused and "max_moves" in refused[0].data["reason"] and refused[0].data["operator"] == "backend"
    # a lowering is never held back, also with the duty spent: every raise was followed by its lowering
    assert all(r.ok for r in unlocks)
    assert [d for _, d in starts] == ["up", "down"] * (len(starts) // 2) and rig.state == "down"
    rig.safe()


def test_every_lock_moved_of_a_moving_arm_names_its_direction(make_rig, kind):
    """docs/locks.md: `lock_moved` carries `direction` while moving. The pause before a reversal (a rise stopped
    by `unlock`, maintenance or a car seen under the arm) is published as `moving` too, and said no direction:
    a backend reading `direction` found none on the first event of each lowering that followed a rise."""
    rig = make_rig(kind, position=0.0)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(0.3, dt=0.05)
    assert rig.manager.unlock(BAY, "an NEV after all", "ops").data["state"] == "moving"  # rise stopped; lowering
    rig.step(4)
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(0.3, dt=0.05)
    assert rig.manager.set_maintenance(BAY, True, "ops").ok
    rig.step(4)
    assert rig.manager.set_maintenance(BAY, False, "ops").ok
    rig.step(rig.lock_cfg.reverse_delay_s + 0.1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(0.3, dt=0.05)
    rig.set_vehicle(True)  # a car under the rising arm: the interlock stops it and lowers it by itself
    rig.step(4)
    moving = [e.data for e in rig.of(EventType.LOCK_MOVED) if e.data["state"] == "moving"]
    assert [d.get("direction") for d in moving] == ["up", "down", "down", "up", "down", "down", "up", "down", "down"]
    assert [d.get("safety") for d in moving][-2:] == [True, True]  # the car's: both the pause and the lowering
    assert rig.state == "down"
    rig.safe()


def test_a_repeated_command_says_whether_the_arm_is_there_or_still_on_its_way(make_rig, kind):
    """A backend that sends ``lock`` again (a lost reply) reads the reply's message: while the arm was still rising
    (a slow or stalled motor) it said "already up" beside ``state: moving``, where the way down says "already
    lowering"."""
    rig = make_rig(kind, position=0.0)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").message == "raising"
    rig.step(0.05, dt=0.05)
    again = rig.manager.lock(BAY, "close", "ops")
    assert (again.ok, again.message, again.data["state"]) == (True, "already raising", "moving"), again
    while rig.state != "up":
        rig.step(0.05, dt=0.05)
    assert rig.manager.lock(BAY, "close", "ops").message == "already up"
    rig.step(rig.lock_cfg.reverse_delay_s + 0.1, dt=0.05)
    assert rig.manager.unlock(BAY, "an NEV", "ops").message == "lowering"
    rig.step(0.05, dt=0.05)
    assert rig.manager.unlock(BAY, "an NEV", "ops").message == "already lowering"
    while rig.state != "down":
        rig.step(0.05, dt=0.05)
    assert rig.manager.unlock(BAY, "an NEV", "ops").message == "already down"
    rig.safe()
