"""Commands over a real broker: every one round-trips with correlation data; every bad one
gets an error reply and changes nothing."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.events.bus import EventBus
from edge_agent.events.command_handler import sign_command
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import build_mqtt
from tests.events.helpers import RecordingControl, Subscriber, make_config

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"
KEY = "k3y-for-dev1-only"
_corr = itertools.count(1)


@pytest.fixture
def agent(broker, tmp_path, monkeypatch):
    """(make_link, backend subscriber, control, clock); links are stopped at teardown."""
    monkeypatch.setenv("EDGE_TEST_HMAC", KEY)
    clock, control, links = FakeClock(), RecordingControl(occupied={"B3"}), []
    backend = Subscriber(broker.port, ["backend/#", f"{PREFIX}/reply", f"{PREFIX}/status"], v5=True).start()

    def make(protocol: str = "5", **mqtt):
        link = build_mqtt(make_config(broker.url(), tmp_path / f"data{len(links)}", protocol=protocol, **mqtt),
                          EventBus(), control, clock, no_health)  # fmt: skip
        links.append(link)
        link.start()
        backend.wait_for(f"{PREFIX}/status", lambda m: m.json()["state"] == "online")
        return link

    yield make, backend, control, clock
    for link in links:
        link.stop()
    backend.stop()


def ask(backend: Subscriber, name: str, body=None, raw: bytes | None = None, response_topic="backend/replies/7"):
    corr = f"req-{next(_corr)}".encode()
    backend.request(f"{PREFIX}/cmd/{name}", body, response_topic, corr, raw=raw)
    msg = backend.wait_for(response_topic, lambda m: m.props.CorrelationData == corr)
    return msg.json()


def now(clock, shift_s: float = 0) -> str:
    return iso(clock.now() + timedelta(seconds=shift_s))


def test_every_command_round_trips_with_correlation_data(agent):
    make, backend, control, clock = agent
    make()
    ts = now(clock)
    r = ask(backend, "lock", {"ts": ts, "bay": "B1", "reason": "fuel car", "operator": "alice", "id": "c-1"})
    assert (r["ok"], r["code"], r["data"], r["id"], r["command"]) == (True, "ok", {"lock": "up"}, "c-1", "lock")
    r = ask(backend, "lock", {"ts": ts, "bay": "B3", "reason": "fuel car", "operator": "alice"})
    assert (r["ok"], r["code"]) == (False, "refused") and "vehicle present" in r["message"]
    r = ask(backend, "unlock", {"ts": ts, "bay": "B1", "reason": "NEV", "operator": "bob"})
    assert r["ok"] and r["data"] == {"lock": "down"}
    r = ask(backend, "snapshot", {"ts": ts, "bay": "B2"})
    assert r["ok"] and r["data"]["evidence_id"] == "ev-4"
    r = ask(backend, "reload-config", {"ts": ts})
    assert (r["ok"], r["code"]) == (False, "config_invalid")
    r = ask(backend, "set-lists", {"ts": ts, "allow": ["京AD12345"], "deny": []})
    assert r["ok"] and r["data"] == {"allow": 1, "deny": 0}
    r = ask(backend, "charger-status", {"ts": ts, "bay": "B2", "status": "finished"})
    assert r["ok"] and r["message"] == "charger finished"
    r = ask(backend, "lock-reset", {"ts": ts, "bay": "B1", "operator": "carol", "reason": "arm inspected"})
    assert (r["ok"], r["command"], r["message"]) == (True, "lock-reset", "fault cleared")
    r = ask(backend, "maintenance", {"ts": ts, "bay": "B1", "on": True, "operator": "carol"})
    assert (r["ok"], r["message"]) == (True, "maintenance on")
    assert control.calls == [
        ("lock", "B1", "fuel car", "alice"),
        ("lock", "B3", "fuel car", "alice"),
        ("unlock", "B1", "NEV", "bob"),
        ("snapshot", "B2"),
        ("reload_config",),
        ("set_lists", ["京AD12345"], []),
        ("charger_status", "B2", "finished"),
        ("reset_lock", "B1", "carol"),
        ("set_maintenance", "B1", True, "carol"),
    ]


BAD = [
    # (command, body or raw bytes, expected code)
    ("explode", {"ts": None}, "unknown_command"),
    ("lock", b"{not json", "malformed_json"),
    ("lock", b"\xff\xfe", "malformed_json"),
    ("lock", [1, 2], "schema_violation"),
    ("lock", {"bay": "B1", "reason": "x", "operator": "o"}, "schema_violation"),  # no ts
    ("lock", {"ts": 0, "bay": "B1", "reason": "x"}, "schema_violation"),  # no operator
    ("lock", {"ts": 0, "bay": "B1", "reason": "x", "operator": "o", "force": True}, "schema_violation"),
    ("charger-status", {"ts": 0, "bay": "B1", "status": "maybe"}, "schema_violation"),
    ("maintenance", {"ts": 0, "bay": "B1", "on": "yes", "operator": "o"}, "schema_violation"),
    ("lock-reset", {"ts": 0, "bay": "B1"}, "schema_violation"),  # no operator
    ("set-lists", {"ts": 0}, "schema_violation"),
    ("lock", {"ts": "yesterday-ish", "bay": "B1", "reason": "x", "operator": "o"}, "schema_violation"),
    ("lock", {"ts": "2026-01-01T08:00:00", "bay": "B1", "reason": "x", "operator": "o"}, "schema_violation"),
    ("lock", {"ts": -61, "bay": "B1", "reason": "x", "operator": "o"}, "stale"),
    ("unlock", {"ts": +61, "bay": "B1", "reason": "x", "operator": "o"}, "stale"),
    ("lock", {"ts": 0, "bay": "B9", "reason": "x", "operator": "o"}, "unknown_bay"),
]


def _materialise(body, clock):
    if isinstance(body, dict) and isinstance(body.get("ts"), int):
        body = {**body, "ts": now(clock, body["ts"])}
    return body


def test_bad_commands_get_an_error_reply_and_change_nothing(agent, caplog):
    make, backend, control, clock = agent
    make()
    for name, body, code in BAD:
        raw = body if isinstance(body, bytes) else None
        r = ask(backend, name, None if raw else _materialise(body, clock), raw=raw)
        assert (r["ok"], r["code"]) == (False, code), (name, body, r)
        assert r["message"]
    assert control.calls == []
    assert sum("refused" in rec.getMessage() for rec in caplog.records) == len(BAD)


def test_signed_commands(agent):
    make, backend, control, clock = agent
    make(hmac_secret_env="EDGE_TEST_HMAC")
    body = {"ts": now(clock), "bay": "B2", "reason": "fuel car", "operator": "alice"}
    assert ask(backend, "lock", body)["code"] == "missing_signature"
    signed = sign_command("lock", body, KEY.encode())
    assert ask(backend, "lock", {**signed, "bay": "B1"})["code"] == "bad_signature"  # tampered
    assert ask(backend, "unlock", signed)["code"] == "bad_signature"  # signed for another command
    assert ask(backend, "lock", sign_command("lock", body, b"another device's key"))["code"] == "bad_signature"
    assert ask(backend, "lock", {**signed, "sig": "签" * 64})["code"] == "bad_signature"  # not "internal_error"
    stale = sign_command("lock", {**body, "ts": now(clock, -120)}, KEY.encode())
    assert ask(backend, "lock", stale)["code"] == "stale"
    assert control.calls == []

    r = ask(backend, "lock", signed)
    assert (r["ok"], r["code"]) == (True, "ok")
    assert ask(backend, "lock", signed)["code"] == "replay"
    assert control.calls == [("lock", "B2", "fuel car", "alice")]


def test_a_signature_in_upper_case_hex_is_the_same_signature(agent):
    """Hex in either case is one signature (many HMAC libraries print upper case): the check compared it lowered,
    then the envelope's schema (``^[0-9a-f]{64}$``) refused it as a ``schema_violation``. A replay of it in the other
    case is still a replay: what was signed is remembered, not how the signature was written."""
    make, backend, control, clock = agent
    make(hmac_secret_env="EDGE_TEST_HMAC")
    body = {"ts": now(clock), "bay": "B2", "reason": "fuel car", "operator": "alice"}
    signed = sign_command("lock", body, KEY.encode())
    r = ask(backend, "lock", {**signed, "sig": signed["sig"].upper()})
    assert (r["ok"], r["code"]) == (True, "ok"), r
    assert ask(backend, "lock", signed)["code"] == "replay"
    assert ask(backend, "lock", {**signed, "sig": "G" * 64})["code"] == "bad_signature"  # not hex: never matches
    assert control.calls == [("lock", "B2", "fuel car", "alice")]


def test_mqtt_311_replies_to_reply_to_with_correlation_id(agent, broker):
    make, backend, control, clock = agent
    make(protocol="3.1.1")
    old = Subscriber(broker.port, ["backend/#", f"{PREFIX}/reply"], v5=False).start()
    try:
        body = {"ts": now(clock), "bay": "B4", "status": "charging", "reply_to": "backend/r311", "correlation_id": "x-9"}
        old.c.publish(f"{PREFIX}/cmd/charger-status", json.dumps(body), qos=1)
        r = old.wait_for("backend/r311").json()
        assert (r["ok"], r["correlation_id"]) == (True, "x-9")
        old.c.publish(f"{PREFIX}/cmd/lock", b"{oops", qos=1)  # no reply_to readable: the default topic
        assert old.wait_for(f"{PREFIX}/reply").json()["code"] == "malformed_json"
    finally:
        old.stop()
    assert control.calls == [("charger_status", "B4", "charging")]


def test_reply_never_goes_back_into_the_command_inbox(agent):
    make, backend, control, clock = agent
    make()
    body = {"ts": now(clock), "bay": "B9", "reason": "x", "operator": "o"}
    r = ask(backend, "lock", body, response_topic=f"{PREFIX}/reply")
    assert r["code"] == "unknown_bay"
    corr = b"loop"
    backend.request(f"{PREFIX}/cmd/lock", body, f"{PREFIX}/cmd/lock", corr)
    assert backend.wait_for(f"{PREFIX}/reply", lambda m: m.props.CorrelationData == corr).json()["code"] == "unknown_bay"
    assert control.calls == []


def test_sim_topics_are_not_even_subscribed_without_a_simulator_lock(agent):
    """No lock has driver: simulator here: a sim command reaches nothing and gets no reply."""
    make, backend, control, clock = agent
    link = make()
    assert not link.simulator
    backend.request(f"{PREFIX}/sim/stall", {"ts": now(clock), "bay": "B1"}, "backend/replies/sim", b"sim-1")
    r = ask(backend, "snapshot", {"ts": now(clock), "bay": "B2"})  # sent after it, answered: the sim one was not
    assert r["ok"] and not backend.on("backend/replies/sim")
    assert control.calls == [("snapshot", "B2")]


def test_a_stale_command_says_when_this_devices_clock_is_not_synchronised(agent):
    """A Pi without a real-time clock reads its last shutdown's time until NTP sets it: every command is ``stale``,
    and the reply left the sender to suspect its own clock. It names the device's clock when the kernel says it is
    not synchronised (and only then)."""
    make, backend, control, clock = agent
    make()
    body = {"ts": now(clock, +3600), "bay": "B1", "reason": "NEV confirmed", "operator": "alice"}
    r = ask(backend, "unlock", body)
    assert r["code"] == "stale" and "clock" not in r["message"]  # synced unknown (None): nothing to blame
    clock.set_synced(False)
    r = ask(backend, "unlock", body)
    assert r["code"] == "stale" and "this device's clock" in r["message"] and "not synchronised" in r["message"]
    assert control.calls == []


def test_the_link_hands_its_site_and_the_settings_to_the_commands(agent):
    """Over the broker, from the config: ``site.site_id`` and ``mqtt.command_site`` / ``command_device`` reach the
    command checks (handler tests build the handler by hand and could not see a link that passed neither)."""
    make, backend, control, clock = agent
    make(hmac_secret_env="EDGE_TEST_HMAC", command_site="required", command_device="required")
    body = {"ts": now(clock), "bay": "B2", "reason": "fuel car", "operator": "alice", "device": "dev1"}
    for extra in ({}, {"site": "s2"}):
        r = ask(backend, "lock", sign_command("lock", {**body, **extra}, KEY.encode()))
        assert r["code"] == "wrong_device" and r["message"].startswith("site:") and "'s1'" in r["message"], r
        assert r["data"] == {"field": "site"}, r  # told apart from a device without reading the message
    no_device = {k: v for k, v in body.items() if k != "device"}
    r = ask(backend, "lock", sign_command("lock", {**no_device, "site": "s1"}, KEY.encode()))
    assert r["code"] == "wrong_device" and r["message"].startswith("device:") and r["data"] == {"field": "device"}, r
    assert control.calls == []
    assert ask(backend, "lock", sign_command("lock", {**body, "site": "s1"}, KEY.encode()))["code"] == "ok"
    assert control.calls == [("lock", "B2", "fuel car", "alice")]
