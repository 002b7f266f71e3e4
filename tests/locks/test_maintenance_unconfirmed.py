"""``maintenance`` on where the arm cannot be proven down (probe lock36, review56).

A faulted lock whose lowering cannot be driven (both limit switches active, a motor that turns the arm the wrong way,
a lying down switch past the motor's duty) answers a lowering ``ok: false``, ``down_unconfirmed``. ``maintenance`` on
turns the mode on all the same (saved, ``lock_maintenance`` published, automatic moves off), but the lock is not held
down, which is what the command promises: answered ``ok: true`` (lock36), a backend reading ``ok`` believed the arm
down with it up — the belief that let an NEV in front of an arm (lock34); a mode believed off holds nothing up. So
``ok: false`` as for an ``unlock`` (``code: refused``, ``data.code`` ``down_unconfirmed``), the words beginning
"maintenance mode on", and ``data.mode`` (every ``maintenance`` reply) saying the mode is on.

Through the command handler (``tests/events/test_command_fuzz.py``'s control) on gpiozero's MockFactory pins and on the
simulator, on a fake clock.
"""

from __future__ import annotations

import json

from edge_agent.clock import iso
from edge_agent.events.command_handler import Command, CommandHandler
from edge_agent.events.schemas import first_error
from edge_agent.events.topics import Topics
from edge_agent.events.types import EventType
from tests.events.test_command_fuzz import Control
from tests.locks.conftest import BAY


def test_maintenance_on_with_the_arm_unproven_says_the_mode_is_on_and_the_arm_may_be_up(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    rig.inject("stick_switch", "down", True)  # a stone on the down switch, the arm up: both active
    rig.step(1)
    assert rig.state == "fault" and rig.of(EventType.LOCK_FAULT)[-1].data["code"] == "switches_both"
    handler = CommandHandler(Control(rig.manager), Topics("edge/s1/d1"), "d1", rig.clock, 60.0, None,  # type: ignore[arg-type]
                             None)
    payload = {"ts": iso(rig.clock.now()), "bay": BAY, "on": True, "operator": "tech"}
    reply = handler.handle(Command("maintenance", json.dumps(payload).encode(), None, None)).body
    assert first_error("reply.json", reply) is None, reply
    # not ok: the lock is not held down (lock36 answered ok: true, a backend reading ok believed the arm down)
    assert not reply["ok"] and reply["code"] == "refused", reply
    assert reply["data"]["code"] == "down_unconfirmed" and reply["data"]["state"] == "fault", reply
    assert reply["data"]["mode"] == "maintenance", reply  # the mode is on all the same
    assert reply["message"].startswith("maintenance mode on") and "may not be down" in reply["message"], reply
    assert rig.manager.status()[BAY]["mode"] == "maintenance"
    assert rig.of(EventType.LOCK_MAINTENANCE)[-1].data["on"] is True
    # an unlock's lowering that cannot be driven stays a refusal: lowering is what it asked for
    payload = {"ts": iso(rig.clock.now()), "bay": BAY, "reason": "NEV", "operator": "tech"}
    reply = handler.handle(Command("unlock", json.dumps(payload).encode(), None, None)).body
    assert not reply["ok"] and reply["data"]["code"] == "down_unconfirmed", reply
    rig.safe()


def test_maintenance_on_with_the_arm_driven_down_is_answered_as_before(make_rig, kind):
    rig = make_rig(kind, position=1.0)
    rig.see(occupied=False, p_occupied=0.05)
    rig.step(1)
    d = rig.manager.set_maintenance(BAY, True, "tech")
    assert d.ok and d.message == "lowering" and "code" not in d.data and d.data["mode"] == "maintenance", d
    rig.step(4)
    assert rig.arm.position == 0.0
    rig.safe()
