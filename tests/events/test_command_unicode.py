"""Commands over a real mosquitto carrying text MQTT or UTF-8 cannot carry: a ``reply_to`` with a control
character or a non-character (mosquitto calls a PUBLISH to it malformed and closes the connection; the
in-flight reply was re-sent at every reconnect, so one command kept the device off the broker), and JSON's
lone-surrogate escapes (``"\\ud800"``: the reply echoing it could not be encoded, so the command ran without
any reply). Each gets one error reply, and the agent is never called."""

from __future__ import annotations

import itertools
import json

import pytest

from edge_agent.clock import iso
from tests.events.helpers import Subscriber, online_link, wait_until

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"
_corr = itertools.count(1)


@pytest.fixture
def link(broker, tmp_path):  # noqa: ANN001, ANN201
    # 3.1.1: the reply goes to the body's reply_to
    with online_link(broker, tmp_path / "data", ["#"], v5=False) as (lk, backend, control, clock):
        yield lk, backend, control, clock


def ask(backend: Subscriber, name: str, raw: bytes, cid: str, where: str) -> dict:
    backend.c.publish(f"{PREFIX}/cmd/{name}", raw, qos=1).wait_for_publish(5)
    return backend.wait_for(where, lambda m: m.json().get("correlation_id") == cid).json()


@pytest.mark.parametrize("bad", ["\x01", "\x1b", "\x7f", "\x85", "\ufffe", "\U0001ffff", "\ufdd0"])
def test_a_reply_to_a_broker_cannot_take_goes_to_the_reply_topic_and_the_link_stays_up(link, bad: str) -> None:
    lk, backend, control, clock = link
    body = {"ts": iso(clock.now()), "bay": "B1", "status": "idle", "reply_to": f"backend/r{bad}x", "correlation_id": "c1"}
    r = ask(backend, "charger-status", json.dumps(body).encode(), "c1", f"{PREFIX}/reply")
    assert r["ok"], r
    # the broker did not close the connection: the next command is answered on the same one
    body = {**body, "reply_to": "backend/r", "correlation_id": "c2"}
    assert ask(backend, "charger-status", json.dumps(body).encode(), "c2", "backend/r")["ok"]
    assert lk.status().connects == 1 and lk.status().connected
    assert len(control.calls) == 2


@pytest.mark.parametrize("field", ["id", "correlation_id", "reason", "operator", "\\udc00"])
def test_a_lone_surrogate_anywhere_is_malformed_and_nothing_runs(link, field: str) -> None:
    lk, backend, control, clock = link
    cid = f"s-{next(_corr)}"
    body = {"ts": iso(clock.now()), "bay": "B1", "reason": "fuel car", "operator": "alice", "correlation_id": cid,
            "reply_to": "backend/s"}
    others = {k: v for k, v in body.items() if k != field}  # each name once: one named twice is refused for that
    raw = json.dumps(others)[:-1] + f', "{field}": "x\\ud800"}}'  # the escape as a backend's JSON library writes it
    backend.c.publish(f"{PREFIX}/cmd/lock", raw.encode(), qos=1).wait_for_publish(5)
    # an unreadable payload's reply_to is not believed: the reply goes to the reply topic
    r = wait_until(lambda: backend.on(f"{PREFIX}/reply"), what="the reply")[0].json()
    assert (r["ok"], r["code"]) == (False, "malformed_json"), r
    assert "surrogate" in r["message"]
    assert control.calls == []
    # a pair of surrogate escapes is one character (🚗), and fine
    ok = json.dumps({**body, "reason": "\U0001f697"}).encode()
    assert b"\\ud83d\\ude97" in ok
    assert ask(backend, "lock", ok, cid, "backend/s")["ok"]
    assert control.calls == [("lock", "B1", "\U0001f697", "alice")]
