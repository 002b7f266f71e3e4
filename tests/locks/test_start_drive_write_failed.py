"""A start-up lowering whose motor line write fails is owed and retried at the tick, as any lowering's is
(``test_motor_write_failed.py``) — never an error out of the start. The start drives the arm at once where it finds an
NEV's lowering cut short (review64: between its switches, or up with the lowering owed); a GPIO write failing then (a
line still held by the killed process, an I/O error) went up out of ``Interlock.start`` through ``LockManager.start``
and the agent's start: the agent did not start at all, and the arm stood in front of the NEV (review66)."""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import DOWN, NEV_PLATE
from tests.locks.test_motor_write_failed import failing
from tests.locks.test_owed_lowering_asked import _duty_spent


def _restart_with_the_down_line_failing(rig, times: int | None) -> None:  # noqa: ANN001
    """``Rig.restart(killed=True)`` with the new DOWN pin's writes failing from the first."""
    rig.factory.reset()
    rig.manager = rig.build()
    failing(rig.pin(DOWN), True, times=times)
    rig.start()


def test_an_nevs_lowering_cut_short_mid_stroke_whose_write_fails_at_the_start_is_retried(make_rig, tmp_path, clock):
    path = tmp_path / "lock-latches.json"
    _duty_spent(path, clock, 12)
    rig = make_rig("gpio", position=1.0, latches_at=path)
    rig.step(1)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(1)
    assert rig.down_active() and 0.1 < rig.arm.position < 0.9
    rig.arm.set_drive(None)  # killed mid-stroke
    _restart_with_the_down_line_failing(rig, times=1)  # before: OSError out of the start
    rig.step(5)  # the tick's retry drives it
    assert rig.arm.position == 0.0
    assert rig.of(EventType.LOCK_FAULT)  # position_unknown, as at any start between the switches
    rig.safe()


def test_an_nevs_lowering_owed_with_the_arm_up_whose_write_fails_at_the_start_is_retried(make_rig, tmp_path, clock):
    path = tmp_path / "lock-latches.json"
    _duty_spent(path, clock, 12)
    rig = make_rig("gpio", position=1.0, latches_at=path)
    rig.step(1)
    failing(rig.pin(DOWN), True, times=None)
    rig.vehicle_arrives(NEV_PLATE, nev=True)  # its write fails: owed over the restart
    assert rig.arm.position == 1.0
    _restart_with_the_down_line_failing(rig, times=1)
    rig.step(5)
    assert rig.arm.position == 0.0 and rig.state == "down"
    rig.safe()


def test_a_start_up_lowering_whose_writes_keep_failing_is_a_fault_not_a_failed_start(make_rig, tmp_path, clock):
    path = tmp_path / "lock-latches.json"
    rig = make_rig("gpio", position=1.0, latches_at=path)
    rig.step(1)
    failing(rig.pin(DOWN), True, times=None)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    _restart_with_the_down_line_failing(rig, times=None)
    rig.step(10)
    assert rig.state == "fault" and rig.arm.position == 1.0
    assert any(e.data.get("code") == "tick_failed" for e in rig.of(EventType.LOCK_FAULT))


def test_after_a_start_drive_whose_write_failed_a_car_still_stops_a_rise_on_its_edge(make_rig, tmp_path, clock):
    """The start whose drive's write failed (owed to the tick) left before it asked the driver for its input edges
    (probe lock38): for the rest of that run a car over a rising arm stopped it only at the next tick, not on the
    presence edge."""
    path = tmp_path / "lock-latches.json"
    rig = make_rig("gpio", position=1.0, latches_at=path)
    rig.step(1)
    rig.vehicle_arrives(NEV_PLATE, nev=True)
    rig.step(1)
    rig.arm.set_drive(None)  # killed mid-stroke
    _restart_with_the_down_line_failing(rig, times=1)
    rig.step(5)
    assert rig.arm.position == 0.0
    assert rig.manager.reset("B1", "ops").ok
    rig.vehicle_leaves()
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(2)
    rig.watch_free()
    assert rig.manager.lock("B1", reason="test raise", operator="ops").ok
    rig.step(1.5)
    assert rig.up_active() and 0.0 < rig.arm.position < 1.0
    rig.set_vehicle(True)  # a car noses in over the rising arm
    assert not rig.up_active(), "UP must drop on the presence edge, not at the next tick"  # before: up still
    rig.step(4)
    assert rig.arm.position == 0.0
    rig.safe()


def test_a_faulted_arm_read_down_by_swapped_switches_keeps_its_run_on_when_the_start_write_fails(make_rig, tmp_path):
    """The saved-fault start that drives an arm its swapped switches read ``down`` (the last run left it up) for
    ``motor_timeout_s`` whatever the down switch says (review49), its first DOWN write failing: the tick's retry runs
    on as the start's drive would have (noted as open by review66, checked by probe lock38). Retried as a plain
    lowering, it would stop at once at the "down" switch (the up switch, shut), the arm up in front of the next NEV."""
    from tests.locks.test_unproven_switches import SWAPPED, _raised_and_stopped

    path = tmp_path / "lock-latches.json"
    rig = _raised_and_stopped(make_rig, "gpio", path)
    rig.inject("stick_switch", "down", True)
    rig.step(1)
    assert rig.state == "fault" and rig.arm.position == 1.0
    rig.inject("stick_switch", "down", None)
    rig.close()
    rig = make_rig("gpio", position=1.0, latches_at=path, switches=SWAPPED, start=False)
    failing(rig.pin(DOWN), True, times=1)
    rig.start()
    rig.step(rig.lock_cfg.motor_timeout_s + 1)
    assert rig.arm.position == 0.0, rig.arm.position
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)][-1] == "motor_reversed"
    rig.safe()
