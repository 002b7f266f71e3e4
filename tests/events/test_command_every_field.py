"""Every field of every command schema, broken on its own: one error reply naming the field, and nothing acts.

A table over ``events/schemas/cmd-*.json`` and ``sim-*.json`` (with the envelope's fields), not examples: each field
gets JSON numbers no field takes (NaN, ±Infinity, 1e999, a 400-digit integer), a value of every other JSON type, text
past its limit; a field the schema does not have is added. The handler runs on a real lock stage (gpiozero's
MockFactory, the simulator for ``sim/…``): the reply is a refusal whose message names the field (or says the payload is
not JSON, for the literals JSON has no number for), no call reaches the agent and no pin or state moves. The fuzz
(``test_command_fuzz.py``) breaks several fields at once at random; this one goes through every field in turn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.events.command_handler import Command, CommandHandler
from edge_agent.events.topics import Topics
from tests.events.fuzzcommands import VALID
from tests.events.test_command_fuzz import REFUSALS, Control
from tests.locks.conftest import Rig

SCHEMAS = Path(__file__).resolve().parents[2] / "edge_agent" / "events" / "schemas"
ENVELOPE = json.loads((SCHEMAS / "command-envelope.json").read_text(encoding="utf-8"))["properties"]
NOT_JSON = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]  # no JSON number: the payload is refused whole
BROKEN = [*NOT_JSON, "9" * 400, "null", "true", "-1", "1.5", "[1]", '{"a": 1}', json.dumps("x" * 10_000)]


def fields(full: str) -> list[str]:
    name = f"sim-{full[4:]}.json" if full.startswith("sim/") else f"cmd-{full}.json"
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return [*ENVELOPE, *schema.get("properties", {}), "unknown_field"]


def send(full: str, field: str, raw: str, watched: bool = False) -> tuple[dict[str, Any], list, bool]:
    """``watched``: the bay seen free for ``auto_raise_delay_s`` first, so a valid ``lock`` may raise (review74's rule)."""
    clock = FakeClock()
    namespace, name = ("sim", full[4:]) if full.startswith("sim/") else ("cmd", full)
    rig = Rig("sim" if namespace == "sim" else "gpio", clock, position=0.0)
    control = Control(rig.manager)
    try:
        if watched:
            rig.watch_free()
        handler = CommandHandler(control, Topics("edge/s1/d1"), "d1", clock, 60.0, None, None)  # type: ignore[arg-type]
        body = {"ts": iso(clock.now()), **VALID[full], field: "@@"}
        payload = json.dumps(body).replace('"@@"', raw).encode()
        before = (rig.manager.status(), rig.up_active(), rig.down_active())
        reply = handler.handle(Command(name, payload, None, None, namespace, False)).body
        return reply, control.calls, before == (rig.manager.status(), rig.up_active(), rig.down_active())
    finally:
        rig.manager.stop()


def test_every_command_has_its_schema() -> None:
    assert {p.stem.replace("cmd-", "").replace("sim-", "sim/") for p in SCHEMAS.glob("[cs][mi][dm]-*.json")} == set(VALID)


@pytest.mark.parametrize("full", sorted(VALID))
def test_a_broken_field_is_refused_naming_it_and_nothing_acts(full: str) -> None:
    for field in fields(full):
        for raw in BROKEN:
            reply, calls, unmoved = send(full, field, raw)
            if reply["ok"]:  # a value the field takes: snapshot's bay null (the whole view), on: true
                assert (field, raw) in (("bay", "null"), ("on", "true")) and full in ("snapshot", "maintenance") \
                    or full.startswith("sim/") and (field, raw) == ("on", "true"), (field, raw, reply)
                continue
            assert reply["code"] in REFUSALS and not calls and unmoved, (field, raw, reply, calls)
            said = reply["message"]
            assert field in said or (raw in NOT_JSON and "not a finite number" in said), (field, raw, said)
