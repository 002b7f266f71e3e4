"""An NEV's lowering owed over a restart is not held by the motor's duty (probe lock37).

The start drives what the last run left owed (``lock-latches.json`` ``held.*.lowering``) as its own drive, and its own
drives keep to the motor's duty saved by the runs before (probe lock36): a crash loop killing each of them must not run
the motor at every start. The record did not say whose lowering it was, so an NEV's — its motor line write failed, or
it waited out ``reverse_delay_s`` when the agent died — was held too: the arm stood up in front of the NEV for the rest
of the window (up to ``max_moves_window_s``). DOWN is always allowed: the record now says who asked (``asked``), and the
start drives such a lowering at once — once: driven by the start, it is the start's own, held by the duty if a crash
loop kills that drive too.
"""

from __future__ import annotations

import json
from datetime import timedelta

from edge_agent.clock import iso
from edge_agent.events.types import EventType
from tests.locks.conftest import DOWN, NEV_PLATE
from tests.locks.test_crash_loop_duty import HELD_KEYS
from tests.locks.test_motor_write_failed import failing
from tests.locks.test_restart_owed import readable_by_0_22, saved


def _duty_spent(path, clock, n: int) -> None:  # noqa: ANN001
    """``n`` motor starts saved within the last minute: the next start's own drives wait for the duty."""
    now = clock.now()
    path.write_text(json.dumps({"version": 1, "locks": {}, "starts": {
        "L1": [iso(now - timedelta(seconds=60 - 4 * i)) for i in range(n)]}}))


def test_an_nevs_lowering_owed_over_a_restart_is_driven_at_once(make_rig, tmp_path, clock):
    path = tmp_path / "lock-latches.json"
    _duty_spent(path, clock, 12)
    rig = make_rig("gpio", position=1.0, latches_at=path)
    rig.step(1)
    assert rig.state == "up"
    failing(rig.pin(DOWN), True, times=None)
    rig.vehicle_arrives(NEV_PLATE, nev=True)  # asked for, never held; its write fails: owed
    assert rig.arm.position == 1.0
    asked = saved(path)["lowering"]["asked"]
    assert asked["reason"].startswith("NEV") and "operator" not in asked
    # inside ``lowering``, where 0.22.0 to 0.25.0 read ``since`` (and ``down_doubted``) and pass the rest over
    doc = json.loads(path.read_text())
    assert readable_by_0_22(path) and all(e.keys() <= HELD_KEYS for e in doc["held"].values())
    rig.restart(killed=True)  # new pins: the driver works again
    rig.step(0.5)
    assert rig.down_active(), "the NEV's owed lowering was held by the motor's duty"  # before: held ~200 s
    assert "asked" not in saved(path)["lowering"]  # driven by the start: its own from now (held if killed again)
    rig.step(4)
    assert rig.arm.position == 0.0 and rig.state == "down"
    assert not rig.of(EventType.LOCK_FAULT)
    rig.safe()


def test_an_operators_unlock_is_saved_as_theirs(make_rig, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = make_rig("gpio", position=1.0, latches_at=path)
    rig.step(1)
    failing(rig.pin(DOWN), True, times=None)
    assert rig.manager.unlock("B1", "visitor", "ops").ok
    assert saved(path)["lowering"]["asked"] == {"reason": "visitor", "operator": "ops"}


def test_a_crash_loop_killing_the_nevs_drive_is_held_by_the_duty_after_the_first(make_rig, tmp_path, clock):
    """Once: the start that drove the NEV's owed lowering is killed during it, arm still up, again and again."""
    path = tmp_path / "lock-latches.json"
    _duty_spent(path, clock, 12)
    rig = make_rig("gpio", position=1.0, latches_at=path)
    rig.step(1)
    failing(rig.pin(DOWN), True, times=None)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    downs = []
    for _ in range(10):
        rig.restart(killed=True)
        downs.append(rig.down_active())
        rig.arm.set_drive(None)  # killed before the arm left its up switch
        rig.arm.position = 1.0
        rig.clock.advance(5)
    assert downs[0] and not any(downs[1:]), downs
    rig.safe()


def test_an_nevs_lowering_killed_mid_stroke_is_driven_at_once_then_held(make_rig, kind, tmp_path, clock):
    """Killed during the NEV's lowering, the arm between its switches: the start latches ``position_unknown`` and
    lowers it — the NEV's lowering still, asked with no fault, so at once, as the arm found up is (review64). Held by
    the duty, the arm stood two thirds up in front of the NEV for 242 s. Once: the start's drive killed too, the next
    start holds it (the fault's own safe position, its record no longer the NEV's)."""
    path = tmp_path / "lock-latches.json"
    _duty_spent(path, clock, 12)
    rig = make_rig(kind, position=1.0, latches_at=path)
    rig.step(1)
    assert rig.state == "up"
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(1)
    assert rig.down_active() and 0.1 < rig.arm.position < 0.9
    assert saved(path)["lowering"]["asked"]["reason"].startswith("NEV")
    rig.arm.set_drive(None)  # killed mid-stroke: its motor lines released
    rig.restart(killed=True)
    assert rig.down_active(), "the NEV's lowering, cut short mid-stroke, was held by the motor's duty"
    assert rig.state == "fault" and "asked" not in saved(path)["lowering"]
    rig.step(0.5)
    rig.arm.set_drive(None)  # killed again, the arm still between its switches
    rig.restart(killed=True)
    assert not rig.down_active(), "the start's own drive, killed, drove the motor again past the duty"
    rig.safe()


def test_an_unlock_stopping_a_rise_killed_before_its_lowering_is_driven_at_once(make_rig, kind, tmp_path, clock):
    """An operator's ``unlock`` stops a rise; killed while its lowering waits out ``reverse_delay_s``, the arm part way
    up: the start drives the operator's lowering at once (review64)."""
    path = tmp_path / "lock-latches.json"
    _duty_spent(path, clock, 11)  # the rise is the 12th start
    rig = make_rig(kind, position=0.0, latches_at=path)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock("B1", "close", "ops").ok
    rig.step(1)
    assert rig.up_active() and 0.1 < rig.arm.position < 0.9
    assert rig.manager.unlock("B1", "visitor", "ops").ok
    assert not rig.up_active() and not rig.down_active()  # waiting out reverse_delay_s
    assert saved(path)["lowering"]["asked"]["operator"] == "ops"
    rig.arm.set_drive(None)
    rig.restart(killed=True)
    assert rig.down_active(), "the operator's lowering after a stopped rise was held by the motor's duty"
    rig.step(3)
    assert rig.arm.position == 0.0
    rig.safe()


def test_a_lowering_asked_with_no_reason_is_saved_as_its_reader_takes_it(make_rig, tmp_path):
    """An ``unlock`` with an empty reason (MQTT's schema refuses one; ``Agent.unlock`` does not): its record was written
    with ``asked.reason`` empty, which the reader refuses — the next start latched ``fault_record_unreadable`` on every
    lock and moved the file aside, its saved faults and motor starts with it (review64)."""
    path = tmp_path / "lock-latches.json"
    rig = make_rig("gpio", position=1.0, latches_at=path)
    rig.step(1)
    failing(rig.pin(DOWN), True, times=None)
    assert rig.manager.unlock("B1", "", "ops").ok
    assert saved(path)["lowering"]["asked"]["reason"]
    rig.restart(killed=True)
    assert rig.state != "fault" and not list(tmp_path.glob("*.corrupt*"))
    assert rig.down_active()
    rig.step(4)
    assert rig.arm.position == 0.0
    rig.safe()
