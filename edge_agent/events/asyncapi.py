"""The MQTT API as an AsyncAPI 3.0 document, generated from the code's own topic table and JSON Schemas.

Why generated: the schemas in ``schemas/`` already validate every command at run time and every payload in
the tests; building ``docs/asyncapi.yaml`` from them (and from ``topics.py``) means the document cannot drift.
``tests/events/test_asyncapi.py`` fails when the committed file differs from what this module builds, and
validates it with the AsyncAPI parser. Regenerate with ``edge-agent api asyncapi --out docs/asyncapi.yaml``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml

from edge_agent import __version__
from edge_agent.events.mqtt_link import LOST_EVENT, OVERFLOW_EVENT
from edge_agent.events.schemas import DIR as SCHEMA_DIR
from edge_agent.events.schemas import PAYLOAD_SCHEMAS, SCHEMA_VERSION, command_schema, sim_schema
from edge_agent.events.topics import COMMANDS, SIM_COMMANDS, Topics
from edge_agent.events.types import EventType

PREFIX = "edge/{site}/{device}"  # mqtt.topic_prefix's default; a site may choose another prefix
PARAMS = {
    "site": "Site id (config `site.site_id`).",
    "device": "Device id (config `site.device_id`; also the agent's MQTT client id unless `mqtt.client_id`).",
    "bay": "Bay id (config `bays[].id`): one topic level, `[A-Za-z0-9_.-]+`.",
    "name": "Command name.",
}


def event_types() -> list[str]:
    """Every ``type`` on ``{prefix}/events``: the bus's and the link's own. Named in the channel's description
    because the schema leaves ``type`` open (a new type is a new minor, not a break) and a backend built from this
    file alone had no list of what to expect."""
    bus = [v for k, v in vars(EventType).items() if k.isupper() and isinstance(v, str)]
    return [*bus, OVERFLOW_EVENT, LOST_EVENT]


@dataclass(frozen=True)
class Channel:
    key: str
    address: str
    schema: str
    action: str  # "send": the agent publishes; "receive": the agent subscribes
    qos: int
    retain: bool
    summary: str


def channels() -> list[Channel]:
    """Every topic the agent publishes or subscribes, from ``Topics`` (so a renamed topic changes the doc)."""
    t = Topics(PREFIX)
    out = [
        Channel("status", t.status, PAYLOAD_SCHEMAS["status"], "send", 1, True,
                "Availability: `online` on connect; `offline` as the last will (`clean: false`) or on a clean stop."),
        Channel("bayState", t.state("{bay}"), PAYLOAD_SCHEMAS["state"], "send", 1, True,
                "Current state of one bay (retained, through the durable outbox, coalesced per bay; the newest one "
                "published again at every connect, for a broker restarted without persistence). A bay taken out "
                "of the config has its retained state cleared: an empty message on its topic."),
        Channel("events", t.events, PAYLOAD_SCHEMAS["event"], "send", 1, False,
                "Every bay-bus event, through the durable outbox: at least once; de-duplicate on `event_id` "
                "(stored before you acknowledge; a persistent session subscribed at QoS 1, on a broker with "
                "persistence, keeps what arrives while you are away — at QoS 0 it keeps nothing: docs/mqtt.md, "
                "receiving every event once). Sent in the order written, "
                "which is not always `ts` order: a stopped run's visits are ended (`reason: agent_stopped`) with "
                "that run's last-alive time, after the new run's first events. Types (data: docs/bays.md#events; "
                "others may come in a new minor version): " + ", ".join(f"`{t}`" for t in event_types()) + "."),
        Channel("health", t.health, PAYLOAD_SCHEMAS["health"], "send", 0, False,
                "Heartbeat every `mqtt.heartbeat_s` and on connect. `clock_synced`: whether the kernel says the "
                "clock is NTP-synchronised (false: timestamps may be far off; null: unknown). "
                "`extra` carries optional detail, e.g. "
                "`outbox_unavailable` while the outbox cannot be opened (a full disk; it is retried every 5 s), "
                "`outbox_refused`: rows the broker refused or cannot take, waiting on disk for the next connection, "
                "`subscriptions_refused`: topic filters (`cmd/+`) the broker refused to subscribe: no command "
                "arrives."),
        Channel("reply", t.reply + "/{path}", PAYLOAD_SCHEMAS["reply"], "send", 1, False,
                "Command replies: to the MQTT 5 response topic (correlation data echoed), else the command's "
                "`reply_to`, else `{prefix}/reply`. Point response topics under `{prefix}/reply/`."),
        Channel("replyDefault", t.reply, PAYLOAD_SCHEMAS["reply"], "send", 1, False,
                "`{prefix}/reply` itself: replies to a command with neither MQTT 5 response topic nor `reply_to`, "
                "with one that is not allowed (docs/mqtt.md), or whose payload could not be read."),
        Channel("statsDaily", t.stats_daily, PAYLOAD_SCHEMAS["stats_daily"], "send", 1, True,
                "Yesterday's figures per bay (site time zone), retained; published after local midnight and at "
                "start, through the durable outbox; held back while the clock is not synchronised or yesterday "
                "precedes the first recorded event."),
        Channel("homeAssistantDiscovery", "homeassistant/{component}/{device}/{object}/config",
                PAYLOAD_SCHEMAS["discovery"], "send", 1, True,
                "Home Assistant MQTT discovery, only with `mqtt.home_assistant.enabled`. `device` and the bay in "
                "`object` are the ids as they are when HA accepts them (letters, digits, `_`, `-`), else with `_` "
                "for every other character and a short hash appended. An empty retained message removes an "
                "entity: sent for the configs of bays (and locks) the running config no longer has."),
    ]
    for name in COMMANDS:
        key = "cmd" + "".join(part.capitalize() for part in name.split("-"))
        out.append(Channel(key, t.command(name), command_schema(name), "receive", 1, False,
                           f"Command `{name}`; every command the agent receives gets exactly one reply on the reply "
                           "channel (an empty payload none). One published while the agent is offline is not kept "
                           "for it (clean start): no reply; send it again with a fresh `ts`. `id` is only echoed, "
                           "no idempotency key."))
    for name in SIM_COMMANDS:
        key = "sim" + "".join(part.capitalize() for part in name.split("-"))
        out.append(Channel(key, t.sim(name), sim_schema(name), "receive", 1, False,
                           f"Simulator fault `{name}` for integration tests: subscribed only when a lock has "
                           "`driver: simulator`, refused (`no_simulator`) for a real lock; checked and signed like a "
                           "command (the signature covers `sim/{name}`), one reply on the reply channel."))
    return out


def _schema_name(filename: str) -> str:
    return filename.removesuffix(".json")


def _component_schema(filename: str) -> dict[str, Any]:
    """One schema file as a component: ``$ref`` between files become component references."""
    doc: dict[str, Any] = json.loads((SCHEMA_DIR / filename).read_text(encoding="utf-8"))
    doc = copy.deepcopy(doc)
    doc.pop("$schema", None)
    doc.pop("$id", None)

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.endswith(".json"):
                node["$ref"] = f"#/components/schemas/{_schema_name(ref)}"
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)
        return node

    fix(doc)  # in place
    return doc


def _params(address: str) -> dict[str, Any]:
    names = [seg[1:-1] for seg in address.split("/") if seg.startswith("{") and seg.endswith("}")]
    return {n: {"description": PARAMS.get(n, f"`{n}` topic level.")} for n in names}


def build() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a plain dict (YAML-dumped by ``render``)."""
    chans = channels()
    schema_files = sorted({c.schema for c in chans} | {p.name for p in SCHEMA_DIR.glob("*.json")})
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "edge-agent MQTT API",
            "version": SCHEMA_VERSION,
            "description": (
                "Topics of one edge-agent under its prefix (`mqtt.topic_prefix`, default `edge/{site}/{device}`). "
                f"Generated by `edge-agent api asyncapi` from agent {__version__}; do not edit by hand. "
                "Every payload is JSON. With MQTT 5 each publish carries the user property "
                f"`schema-version: {SCHEMA_VERSION}` (semantic versioning: a new minor adds optional fields, "
                "topics or event types; a new major removes or changes a field)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "site": {
                "host": "localhost:1883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "The site broker (mosquitto on the device or a site box; TLS on 8883 in production).",
                "bindings": {"mqtt": {
                    "cleanSession": True,  # connection.py connects with clean start: no commands kept while offline
                    "keepAlive": 30,
                    "lastWill": {"topic": f"{PREFIX}/status", "qos": 1, "retain": True,
                                 "message": "status.json with state offline, clean false"},
                }},
            },
        },
        "channels": {},
        "operations": {},
        "components": {"schemas": {}, "messages": {}},
    }
    for f in schema_files:
        doc["components"]["schemas"][_schema_name(f)] = _component_schema(f)
    for c in chans:
        msg_name = c.key
        doc["components"]["messages"][msg_name] = {
            "name": msg_name,
            "title": _schema_name(c.schema),
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{_schema_name(c.schema)}"},
        }
        if c.action == "receive":
            doc["components"]["messages"][msg_name]["correlationId"] = {
                "description": "MQTT 5 correlation data, echoed in the reply; with MQTT 3.1.1 `correlation_id`.",
                "location": "$message.payload#/correlation_id",
            }
        channel: dict[str, Any] = {
            "address": c.address,
            "description": c.summary,
            "messages": {msg_name: {"$ref": f"#/components/messages/{msg_name}"}},
        }
        if params := _params(c.address):
            channel["parameters"] = params
        doc["channels"][c.key] = channel
        op: dict[str, Any] = {
            "action": c.action,
            "channel": {"$ref": f"#/channels/{c.key}"},
            "summary": c.summary,
            "messages": [{"$ref": f"#/channels/{c.key}/messages/{msg_name}"}],
            "bindings": {"mqtt": {"qos": c.qos, "retain": c.retain}},
        }
        if c.action == "receive":
            op["reply"] = {
                "address": {"description": "MQTT 5 response topic, else the payload's reply_to",
                            "location": "$message.payload#/reply_to"},
                "channel": {"$ref": "#/channels/reply"},
                "messages": [{"$ref": "#/channels/reply/messages/reply"}],
            }
        doc["operations"][("publish" if c.action == "send" else "handle") + c.key[0].upper() + c.key[1:]] = op
    return doc


def render() -> str:
    header = "# Generated by `edge-agent api asyncapi --out docs/asyncapi.yaml`; do not edit by hand.\n"
    return header + yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=120)
