"""``Interlock.stop()`` says where a move under way ended, once: the interlock's own state then follows what it said.
Until probe locks43 it published ``position_unknown`` but kept ``state`` ``moving``, so a second stop (a caller
stopping the lock stage again, the test rigs' teardown) said the same fault a second time."""

from __future__ import annotations

from edge_agent.events.types import EventType
from tests.locks.conftest import BAY


def test_a_second_stop_mid_lowering_says_the_fault_once(make_rig, kind):  # noqa: ANN001
    rig = make_rig(kind, position=1.0)
    rig.vehicle_arrives("粤BD12345", nev=True)  # the NEV's lowering starts
    rig.step(1.0)
    assert rig.state == "moving" and 0.0 < rig.arm.position < 1.0
    rig.manager.stop()
    rig.manager.stop()
    faults = [e.data["code"] for e in rig.of(EventType.LOCK_FAULT)]
    assert faults == ["position_unknown"], faults
    assert rig.manager.state(BAY) == "fault"
