"""A lowering that timed out in a fault is not driven again by a restart, only by a reset (probe lock34).

A stalled motor's lowering times out (FAULT ``motor_timeout``) and is not retried — in that process. The mark was
memory only: each restart (a crash loop under systemd's ``Restart=``) found the arm off its down end and drove the
stalled motor another ``motor_timeout_s`` (5 restarts: 5 × 5 s). It is kept in the saved fault now.

On gpiozero's MockFactory pins and on the simulator (``tests/locks/conftest.py``), on a fake clock.
"""

from __future__ import annotations

import json

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY, Rig


def _down_driven_s(rig: Rig, seconds: float) -> float:
    driven = 0.0
    for _ in range(round(seconds / 0.1)):
        rig.step(0.1)
        driven += 0.1 if rig.down_active() else 0.0
    return driven


def test_restarts_do_not_drive_a_stalled_motor_again(make_rig, kind, tmp_path):
    path = tmp_path / "lock-latches.json"
    rig = make_rig(kind, position=1.0, latches_at=path)
    rig.step(1)
    rig.inject("stall")
    assert rig.manager.unlock(BAY, reason="admit", operator="ops").ok
    rig.step(7)
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "motor_timeout"
    driven = [round(_down_driven_s(rig, 10), 1) for _ in range(3) if rig.restart() is None]
    assert driven == [0.0, 0.0, 0.0], driven  # before: [4.9, 4.9, 5.0]
    saved = json.loads(path.read_text())["locks"]["L1"]["fault"]
    assert saved["lowering_timed_out"]  # inside the fault: 0.22.0's and 0.23.0's readers pass it over
    assert rig.state == "fault" and rig.arm.position == 1.0
    assert rig.manager.lock_notes()[BAY].lowering_timed_out  # the page says the motor could not bring it down
    # the operator's reset tries again (the motor repaired): the mark goes with the fault
    rig.inject("stall", False)
    assert rig.manager.reset(BAY, operator="ops").ok
    rig.step(4)
    assert rig.state == "down" and rig.arm.position == 0.0
    assert "L1" not in json.loads(path.read_text())["locks"]
    rig.safe()
