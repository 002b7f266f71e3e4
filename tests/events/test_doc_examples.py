"""Every MQTT payload the docs show is valid against the schema the agent itself is held to.

A backend engineer writes fixtures and a validating consumer from docs/mqtt.md and docs/blackbox.md before reading
any code. An example that breaks its own schema (a `…` where an `event_id` UUID or a `ts` must be) is a payload
the agent never sends, and a consumer built on it rejects the real ones or accepts what the agent never sends.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edge_agent.config.eventtypes import BUS_EVENT_TYPES, LINK_EVENT_TYPES
from edge_agent.events.schemas import first_error
from edge_agent.events.topics import COMMANDS, SIM_COMMANDS

REPO = Path(__file__).resolve().parents[2]
DOCS = ("docs/mqtt.md", "docs/blackbox.md")
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)
PUB = re.compile(r"mosquitto_pub\b.*?\s-t\s+(\S+).*?\s-m\s+(?:'(.*?)'|\"((?:[^\"\\]|\\.)*)\")\s*$")


def schema_of(doc: dict) -> str:
    """Which published payload an example is, by the fields only that payload has."""
    if "event_id" in doc:
        return "event.json"
    if {"state", "site", "device"} <= doc.keys():
        return "status.json"
    if {"bay_id", "since"} <= doc.keys():
        return "bay-state.json"
    if "uptime_s" in doc:
        return "health.json"
    if {"ok", "code", "command"} <= doc.keys():
        return "reply.json"
    if {"day", "totals"} <= doc.keys():
        return "stats-daily.json"
    raise AssertionError(f"an example this test cannot place (teach schema_of its payload): {doc}")


def command_schema(topic: str) -> str:
    levels = topic.split("/")
    kind, name = levels[-2], levels[-1]
    assert (kind, name) in {("cmd", c) for c in COMMANDS} | {("sim", s) for s in SIM_COMMANDS}, topic
    return f"{kind}-{name}.json"


def examples(rel: str) -> list[tuple[str, str, object]]:
    """(where, schema file, payload) for each JSON object starting a line of a fenced block, and each
    ``mosquitto_pub -t TOPIC -m PAYLOAD`` there (shell quoting undone, ``$(date …)`` made a time)."""
    text = (REPO / rel).read_text(encoding="utf-8")
    found: list[tuple[str, str, object]] = []
    decoder = json.JSONDecoder()
    for block in FENCE.finditer(text):
        line_no = text.count("\n", 0, block.start(1)) + 1
        body = block.group(1).replace("\\\n", " ")  # shell continuation lines
        pos = 0
        for line in body.splitlines(keepends=True):
            where = f"{rel}:{line_no} ({line.strip()[:50]}…)"
            m = PUB.search(line.strip())
            if m:
                raw = m.group(2) if m.group(2) is not None else m.group(3).replace('\\"', '"')
                raw = re.sub(r"\$\(date[^)]*\)", "2026-12-01T15:00:00+08:00", raw)
                found.append((where, command_schema(m.group(1)), json.loads(raw)))
            start = pos + len(line) - len(line.lstrip())
            if line.lstrip().startswith("{") and start >= pos:
                doc, end = decoder.raw_decode(body, start)
                found.append((where, schema_of(doc), doc))
            pos += len(line)
            line_no += line.count("\n") or 1
    return found


ALL = [e for rel in DOCS for e in examples(rel)]


def test_the_docs_show_an_example_of_each_payload_a_backend_meets_first():
    shown = {schema for _, schema, _ in ALL}
    assert {"status.json", "event.json", "bay-state.json", "health.json", "reply.json", "cmd-unlock.json",
            "sim-presence.json", "sim-stall.json"} <= shown, shown


@pytest.mark.parametrize(("where", "schema", "doc"), ALL, ids=[f"{w.split(' ')[0]}-{s}" for w, s, _ in ALL])
def test_every_example_payload_in_the_docs_is_valid_against_its_schema(where, schema, doc):
    assert first_error(schema, doc) is None, f"{where}: {first_error(schema, doc)}"
    if schema == "event.json":
        assert doc["type"] in BUS_EVENT_TYPES | LINK_EVENT_TYPES, where


ENVELOPE = json.loads(
    (REPO / "edge_agent" / "events" / "schemas" / "command-envelope.json").read_text(encoding="utf-8")
)["properties"]


def test_where_the_docs_list_the_command_envelope_they_name_every_field_of_it():
    """A backend builds its commands from these lists: mqtt.md's ``sim/…`` section listed the envelope without
    ``device`` (1.15.0) or ``site`` (1.16.0), and consumer.md's **Commands** told a backend to name the device only, so a
    fleet with ``pole-1`` at every site, built from it, stayed open to a command captured at another site (review89)."""
    mqtt = (REPO / "docs" / "mqtt.md").read_text(encoding="utf-8")
    listed = re.search(r"is the command envelope \(([^)]*)\)", mqtt)
    assert listed, "docs/mqtt.md: the sim section's list of the envelope's fields"
    assert [f for f in ENVELOPE if f"`{f}`" not in listed.group(1)] == [], listed.group(0)
    consumer = (REPO / "docs" / "consumer.md").read_text(encoding="utf-8")
    bullet = re.search(r"^- \*\*Commands\*\*.*?(?=^- |^#)", consumer, re.M | re.S)
    assert bullet, "docs/consumer.md: the **Commands** bullet"
    binding = [f for f, s in ENVELOPE.items() if "wrong_device" in s.get("description", "")]  # device, site
    assert binding and [f for f in binding if f'"{f}"' not in bullet.group(0)] == [], bullet.group(0)


def test_the_signing_recipe_in_consumer_md_signs_as_the_agent_checks():
    """consumer.md's one-line recipe (what a backend copies; the AsyncAPI file said only "hex HMAC-SHA256", not over
    what) gives the signature the agent's check accepts: non-ASCII text, a nested list, ``site`` and ``device``."""
    import hashlib
    import hmac

    from edge_agent.events.command_handler import sign_command

    text = " ".join((REPO / "docs/consumer.md").read_text(encoding="utf-8").split())
    recipe = re.search(r"`(hmac\.new\(key, \(name \+ .*?\.hexdigest\(\))`", text)
    assert recipe, "consumer.md lost its signing recipe"
    body = {"ts": "2026-12-07T10:00:00+08:00", "device": "pole-7", "site": "s1", "bay": "A01",
            "reason": "测试 é", "operator": "ops", "lists": {"deny": ["粤B12345"], "allow": []}}
    for name in ("unlock", "sim/stall"):
        got = eval(recipe.group(1), {"hmac": hmac, "hashlib": hashlib, "json": json},  # noqa: S307 - the doc's text
                   {"key": b"k3y", "name": name, "body_without_sig": body})
        assert got == sign_command(name, body, b"k3y")["sig"]
    envelope = json.loads((REPO / "edge_agent/events/schemas/command-envelope.json").read_text(encoding="utf-8"))
    said = envelope["properties"]["sig"]["description"]
    for needed in ("name", "newline", "canonical JSON", "keys sorted", "UTF-8"):
        assert needed in said, f"the AsyncAPI sig description does not say {needed!r}"
