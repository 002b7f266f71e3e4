"""Fuzz: the command handler on a real lock stage (gpiozero's MockFactory, or the simulator for ``sim/…``) with
commands built from the schemas and then broken — fields replaced, dropped, typed wrong, written twice, a stale or
odd ``ts``, signed or not — and raw bytes (invalid UTF-8, NaN literals, nesting, huge numbers).

Whatever arrives: ``handle`` returns a reply that can be published (JSON, UTF-8, no NaN), never ``internal_error``;
a refused command reaches no part of the agent and moves no lock; what does reach it is well-typed; and the lock
never raises its arm over a possible car afterwards. Locally run longer with ``FUZZ_EXAMPLES=8000`` (8,000
examples, no finding)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.clock import FakeClock
from edge_agent.control import ControlResult
from edge_agent.events.command_handler import Command, CommandHandler
from edge_agent.events.replay import ReplayMemory
from edge_agent.events.topics import Topics
from tests.events.fuzzcommands import BAY, commands
from tests.locks.conftest import Rig

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
KEY = b"fuzz-key-" * 4
REFUSALS = {"malformed_json", "schema_violation", "unknown_command", "retained", "missing_signature", "bad_signature",
            "stale", "replay", "unknown_bay", "bad_plate", "too_large"}


class Control:
    """AgentControl over a real LockManager; the rest answers ok. Every call is recorded with its arguments."""

    def __init__(self, manager: Any) -> None:
        self.manager, self.calls = manager, []

    def bay_ids(self) -> list[str]:
        return self.manager.bay_ids()

    def lock(self, bay: str, reason: str, operator: str) -> ControlResult:
        self.calls.append(("lock", bay, reason, operator))
        return self.manager.lock(bay, reason, operator)

    def unlock(self, bay: str, reason: str, operator: str) -> ControlResult:
        self.calls.append(("unlock", bay, reason, operator))
        return self.manager.unlock(bay, reason, operator)

    def reset_lock(self, bay: str, operator: str) -> ControlResult:
        self.calls.append(("reset_lock", bay, operator))
        return self.manager.reset(bay, operator)

    def set_maintenance(self, bay: str, on: bool, operator: str) -> ControlResult:
        self.calls.append(("set_maintenance", bay, on, operator))
        return self.manager.set_maintenance(bay, on, operator)

    def simulate(self, bay: str, action: str, fields: dict[str, Any]) -> ControlResult:
        self.calls.append(("simulate", bay, action, fields))
        return self.manager.simulate(bay, action, fields)

    def snapshot(self, bay: str | None) -> str:
        self.calls.append(("snapshot", bay))
        return "ev-1"

    def reload_config(self, installer: bool = False) -> ControlResult:
        self.calls.append(("reload_config",))
        return ControlResult(True, "reloaded")

    def set_lists(self, allow: list[str] | None, deny: list[str] | None) -> ControlResult:
        self.calls.append(("set_lists", allow, deny))
        return ControlResult(True, "lists replaced")

    def charger_status(self, bay: str, status: str) -> ControlResult:
        self.calls.append(("charger_status", bay, status))
        return ControlResult(True, f"charger {status}")


def well_typed(call: tuple) -> bool:
    """What reached the agent is what the schemas promise it."""
    name, *args = call
    texts = {"lock": args[1:], "unlock": args[1:], "reset_lock": args[1:], "set_maintenance": args[2:]}.get(name, [])
    if name in ("set_lists",):
        return all(v is None or (isinstance(v, list) and all(isinstance(p, str) for p in v)) for v in args)
    if name == "reload_config":
        return True
    if args[0] is not None and args[0] != BAY:
        return False
    if name == "set_maintenance" and not isinstance(args[1], bool):
        return False
    return all(isinstance(t, str) and 0 < len(t) <= 500 for t in texts)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 150,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), signing=st.booleans(),
       response_topic=st.one_of(st.none(), st.sampled_from(["edge/s1/d1/reply/x", "edge/s1/d1/cmd/lock", "edge/#",
                                                            "$SYS/x", "backend/replies", "a" * 70_000, "x\x00y",
                                                            "edge/s1/d1/status", "edge/+/x"]), st.text(max_size=20)),
       correlation=st.one_of(st.none(), st.binary(max_size=300)))
def test_any_command_gets_a_reply_and_only_a_valid_one_acts(data: st.DataObject, signing: bool,
                                                           response_topic: str | None, correlation: bytes | None) -> None:
    clock = FakeClock()
    key = KEY if signing else None
    namespace, name, payload, retained = data.draw(commands(clock.now(), key))
    rig = Rig("sim" if namespace == "sim" else "gpio", clock, position=0.0)
    control = Control(rig.manager)
    with tempfile.TemporaryDirectory() as tmp:
        replay = ReplayMemory(Path(tmp) / "replay.sqlite", clock) if signing else None
        handler = CommandHandler(control, Topics("edge/s1/d1"), "d1", clock, 60.0, key, replay)  # type: ignore[arg-type]
        before = (rig.manager.status(), rig.up_active(), rig.down_active())
        sent = handler.handle(Command(name, payload, response_topic, correlation, namespace, retained))
        reply = sent.body
        assert sent.topic and not set(sent.topic) & {"+", "#", "\x00"}, sent.topic  # never a wildcard or a command
        assert not sent.topic.startswith("$") and not {"cmd", "sim"} & set(sent.topic.split("/")), sent.topic
        json.dumps(reply, ensure_ascii=False, allow_nan=False).encode("utf-8")  # publishable as it is
        assert reply["code"] != "internal_error", reply
        if reply["code"] in REFUSALS:
            assert control.calls == [], (reply, control.calls)
            assert (rig.manager.status(), rig.up_active(), rig.down_active()) == before, reply
        assert all(well_typed(c) for c in control.calls), control.calls
        rig.step(5.0, dt=0.25)
        assert rig.violations == []
        rig.manager.stop()
