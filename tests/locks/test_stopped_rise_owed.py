"""A rise the interlock stopped because a car came, killed while it waited out ``reverse_delay_s`` (probe lock38).

The lowering that stops a rise over a car is the safest DOWN there is; its record (``lock-latches.json``
``held.*.lowering``) did not say so: it was the interlock's own, not ``asked``, so a start whose motor duty the runs
before had spent held it, the arm part way up under the car that stopped it, for up to ``max_moves_window_s``. It is
saved as asked now (``asked.reason`` "rise stopped: …"), and the start drives it at once — once, as an NEV's: driven
by the start it is the start's own, held by the duty if a crash loop kills that drive too
(``tests/locks/test_owed_lowering_asked.py``).

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, Rig
from tests.locks.test_owed_lowering_asked import _duty_spent
from tests.locks.test_restart_owed import saved


def _rise_stopped_by_a_car(make_rig, kind: str, path) -> Rig:  # noqa: ANN001
    """The policy's rise is the motor's 12th start in a minute; a car comes over the rising arm; the agent is
    killed within ``reverse_delay_s`` of the stop, before the lowering starts."""
    rig = make_rig(kind, position=0.0, latches_at=path)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.watch_free()
    assert rig.manager.lock(BAY, "close", "ops").ok
    rig.step(1)
    assert rig.up_active() and 0.1 < rig.arm.position < 0.9
    rig.see(occupied=True, p_occupied=0.95)  # a car pulls in over the rising arm
    rig.step(0.1)
    assert not rig.up_active() and not rig.down_active()  # waiting out reverse_delay_s
    assert saved(path)["lowering"]["asked"]["reason"].startswith("rise stopped")
    rig.arm.set_drive(None)  # killed
    return rig


def test_a_rise_stopped_over_a_car_and_killed_is_lowered_at_once(make_rig, kind, tmp_path, clock):
    path = tmp_path / "lock-latches.json"
    _duty_spent(path, clock, rig_max := 11)
    rig = _rise_stopped_by_a_car(make_rig, kind, path)
    half = rig.arm.position
    rig.clock.advance(5)
    rig.restart(killed=True)
    rig.step(0.5)
    assert rig.down_active(), (rig_max, half)  # before: held by the duty for ~240 s, the arm under the car
    rig.step(rig.lock_cfg.motor_timeout_s)
    assert rig.arm.position == 0.0
    assert [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)] == ["position_unknown"]
    rig.safe()


def test_once_only_a_crash_loop_killing_that_drive_is_held_by_the_duty(make_rig, kind, tmp_path, clock):
    path = tmp_path / "lock-latches.json"
    _duty_spent(path, clock, 11)
    rig = _rise_stopped_by_a_car(make_rig, kind, path)
    downs = []
    for _ in range(6):
        rig.clock.advance(5)
        rig.restart(killed=True)
        rig.step(0.2)
        downs.append(rig.down_active())
        rig.arm.set_drive(None)  # killed again, the arm still off its down end
    assert downs[0] and not any(downs[1:]), downs
