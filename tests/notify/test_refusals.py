"""An endpoint that refuses one event for good (400, 413, 422 …) no longer holds its sink: after
``refused_tries`` the event moves to the dead letters (on disk, counted, in the heartbeat) and the
events behind it go on. ``Retry-After`` on 429 / 503 sets the wait, within the sink's bounds.
A real loopback server plays the answers; time is a FakeClock."""

from __future__ import annotations

import json
import socket
import sqlite3
from datetime import timedelta, timezone
from email.utils import format_datetime

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.notify.service import NotifyService
from tests.notify.helpers import config, violation

KEY = "webhook-signing-key-0123456789"


def sink(url: str, **over: object) -> dict[str, object]:
    return {"name": "backend", "kind": "webhook", "url": url, "secret_env": "HOOK_KEY", "timeout_s": 2,
            "backoff_s": 1, "max_backoff_s": 60, "events": ["violation_started"], **over}


def test_a_refused_event_moves_to_the_dead_letters_and_the_next_ones_go_on(tmp_path, receiver, monkeypatch):
    """Before: the 422 kept the row at the head for ever; B and C were never sent."""
    monkeypatch.setenv("HOOK_KEY", KEY)
    clock = FakeClock()
    cfg = config(tmp_path, [sink(receiver.url)])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    (d,) = svc.open()
    refusal = (422, {}, b'{"error": "data.plate:\n  field required"}')
    receiver.script = [refusal] * 3
    a, b, c = (violation(clock, i=i) for i in range(3))
    for ev in (a, b, c):
        bus.publish(ev)

    waits = [d.pump()]
    clock.advance(waits[-1])
    waits.append(d.pump())
    clock.advance(waits[-1])
    waits.append(d.pump())  # the third refusal: A moves aside, B and C go at once
    status = svc.status()["backend"]
    svc.stop()

    assert waits == [1, 2, 30]  # two backoffs, then idle (30 s) with nothing left
    assert receiver.order == [b.event_id, c.event_id] and d.depth() == 0
    assert [r.event_id for r in receiver.requests] == [a.event_id] * 3 + [b.event_id, c.event_id]
    assert status["dead"] == 1 and status["error"] is None and status["delivered"] == 2
    last = status["last_dead"]
    assert last["event_id"] == a.event_id and last["type"] == "violation_started" and last["status"] == 422
    assert last["reason"] == 'HTTP 422: {"error": "data.plate: field required"}'  # short, one line

    path = tmp_path / "data" / "notify-dead" / "backend.sqlite"
    (row,) = sqlite3.connect(path).execute("SELECT payload FROM outbox").fetchall()
    doc = json.loads(row[0])
    assert doc["event"] == a.to_dict() and doc["tries"] == 3 and doc["status"] == 422 and doc["sink"] == "backend"
    assert doc["at"] == "2026-01-01T08:00:03.000+08:00"  # site time, with its offset
    signature = receiver.requests[0].headers["x-edge-signature"]
    assert KEY not in row[0].decode() and signature.split("=", 1)[1] not in row[0].decode()

    svc = NotifyService(cfg, EventBus(), clock)  # a restart: the dead letter and its summary are still there
    svc.open()
    assert svc.status()["backend"]["dead"] == 1 and svc.status()["backend"]["last_dead"] == last
    svc.stop()


@pytest.mark.parametrize("status,dead", [
    (400, True), (413, True), (422, True), (409, True), (451, True),
    (401, False), (403, False), (404, False), (410, False),  # the endpoint or its key: every event would fail
    (408, False), (429, False), (500, False), (503, False), (301, False),
])
def test_which_answers_refuse_the_event_and_which_are_retried(tmp_path, receiver, monkeypatch, status, dead):
    monkeypatch.setenv("HOOK_KEY", KEY)
    clock = FakeClock()
    svc = NotifyService(config(tmp_path, [sink(receiver.url, refused_tries=2)]), bus := EventBus(), clock)
    (d,) = svc.open()
    receiver.script = [(status, {}, b"no")] * 5
    bus.publish(violation(clock))
    for _ in range(5):
        clock.advance(d.pump())
    svc.stop()
    assert (d.dead.count(), d.depth(), len(receiver.requests)) == ((1, 0, 2) if dead else (0, 1, 5))


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_its_target_is_named_in_the_error(tmp_path, receiver, monkeypatch, status):
    """Not followed (an endpoint must not steer the sink to 169.254.169.254 or the LAN), and the heartbeat says where
    it pointed: before, a moved endpoint showed "HTTP 301: " with an empty body and the operator could not tell why."""
    monkeypatch.setenv("HOOK_KEY", KEY)
    clock = FakeClock()
    svc = NotifyService(config(tmp_path, [sink(receiver.url)]), bus := EventBus(), clock)
    (d,) = svc.open()
    target = "http://169.254.169.254/latest/meta-data/"
    receiver.script = [(status, {"Location": target}, b"")]
    bus.publish(violation(clock))
    d.pump()
    svc.stop()
    assert len(receiver.requests) == 1 and d.depth() == 1  # not followed, still queued
    assert f"HTTP {status} (redirect to {target}: not followed" in d.last_error


def test_refusing_everything_drains_slowly_and_a_delivery_resets_the_backoff(tmp_path, receiver, monkeypatch):
    """A receiver answering 400 to everything (a bad deploy) must not empty the queue into the dead
    letters in seconds: the backoff keeps growing across events until something is delivered."""
    monkeypatch.setenv("HOOK_KEY", KEY)
    clock = FakeClock()
    svc = NotifyService(config(tmp_path, [sink(receiver.url)]), bus := EventBus(), clock)
    (d,) = svc.open()
    receiver.script = [(400, {}, b"bad")] * 7
    for i in range(3):
        bus.publish(violation(clock, i=i))
    waits = []
    for _ in range(6):
        waits.append(d.pump())
        clock.advance(waits[-1])
    # A: 1, 2, moved aside; B goes at once and its first refusal waits 8 (not 1): 8, 16, moved aside;
    # C goes at once: 60 (capped); then delivered, and idle
    assert waits == [1, 2, 8, 16, 60, 30] and d.dead.count() == 2 and d.depth() == 0 and len(receiver.unique) == 1
    receiver.script = [(400, {}, b"bad")]
    bus.publish(violation(clock, i=9))
    assert d.pump() == 1  # delivered reset the doubling: the new event's first refusal waits backoff_s again
    svc.stop()


@pytest.mark.parametrize("status,header,first,second", [
    (429, "7", 7, 7),  # seconds
    (503, "+date 120", 60, 60),  # an HTTP-date 120 s ahead: capped at max_backoff_s
    (503, "+date 20", 20, 1),  # the same date again once it has come: floored at backoff_s
    (429, "-date 50", 1, 1),  # a date past
    (429, "0", 1, 1),  # 0 would spin
    (429, "99999999999", 60, 60),
    # not a number of seconds nor a date: ignored, the doubling goes on
    (429, "nan", 1, 2), (429, "inf", 1, 2), (429, "-5", 1, 2), (429, "1e3", 1, 2), (429, "soon", 1, 2),
    (429, "", 1, 2),
    (500, "7", 1, 2),  # only 429 and 503 carry it
])
def test_retry_after_sets_the_wait_within_the_sinks_bounds(tmp_path, receiver, monkeypatch, status, header, first,
                                                           second):
    """Before: the answer's Retry-After was ignored: the waits were 1, 2, 4 … whatever it said."""
    monkeypatch.setenv("HOOK_KEY", KEY)
    clock = FakeClock()
    svc = NotifyService(config(tmp_path, [sink(receiver.url)]), bus := EventBus(), clock)
    (d,) = svc.open()
    if header.startswith(("+date", "-date")):
        ahead = int(header.split()[1]) * (1 if header[0] == "+" else -1)
        header = format_datetime((clock.now() + timedelta(seconds=ahead)).astimezone(timezone.utc), usegmt=True)
    receiver.script = [(status, {"Retry-After": header}, b"slow down")] * 2
    bus.publish(violation(clock))
    waits = [d.pump()]
    clock.advance(waits[0])
    waits.append(d.pump())
    svc.stop()
    assert waits == [first, second] and len(receiver.requests) == 2


def test_the_backoff_does_not_overflow_after_a_long_outage(tmp_path, monkeypatch):
    """Before: the 1026th failure in a row computed 2.0 * 2 ** 1025 and raised OverflowError (after about
    3.5 days at the 300 s cap); the sink then retried every 30 s, logging a traceback each time."""
    monkeypatch.setenv("HOOK_KEY", KEY)
    with socket.socket() as s:  # a port nobody listens on: every try is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = FakeClock()
    svc = NotifyService(config(tmp_path, [sink(f"http://127.0.0.1:{port}/hook")]), bus := EventBus(), clock)
    (d,) = svc.open()
    bus.publish(violation(clock))
    waits = []
    for _ in range(1100):
        waits.append(d.pump())
        clock.advance(waits[-1])
    svc.stop()
    assert waits[-1] == 60 and d.counts.failures == 1100 and "ConnectError" in d.last_error


def test_the_webhooks_signature_quoted_in_the_refusal_is_masked_in_the_dead_letters(tmp_path, receiver, monkeypatch):
    """A receiver that quotes the request's headers in its 422 (a debugging one does): the HMAC signature
    must not reach the dead letters or the heartbeat. Before, only the key and URL query values were
    masked; the first test's check for the signature could not fail (its refusal quoted nothing)."""
    monkeypatch.setenv("HOOK_KEY", KEY)
    clock = FakeClock()
    svc = NotifyService(config(tmp_path, [sink(receiver.url, refused_tries=1)]), bus := EventBus(), clock)
    (d,) = svc.open()
    receiver.mode = "echo_headers"
    bus.publish(violation(clock))
    d.pump()
    status = json.dumps(svc.status())
    svc.stop()
    mac = receiver.requests[0].headers["x-edge-signature"].split("=", 1)[1]
    files = b"".join(f.read_bytes() for f in (tmp_path / "data" / "notify-dead").iterdir())
    assert d.dead.count() == 1 and "X-Edge-Signature" in status  # the refusal is kept, the value masked
    assert mac.encode() not in files and mac not in status


def test_a_robots_key_quoted_in_the_refusal_is_masked_in_the_dead_letters(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("WECOM_KEY", "wk-secret-123")
    clock = FakeClock()
    base = receiver.url.rsplit("/", 1)[0]
    cfg = config(tmp_path, [{"name": "wecom", "kind": "wecom", "url": base + "/cgi-bin/webhook/send",
                             "secret_env": "WECOM_KEY", "refused_tries": 1}])
    svc = NotifyService(cfg, bus := EventBus(), clock)
    (d,) = svc.open()
    receiver.script = [(400, {}, b"bad request: POST /cgi-bin/webhook/send?key=wk-secret-123")]
    bus.publish(violation(clock))
    d.pump()
    status = json.dumps(svc.status())
    svc.stop()
    (row,) = sqlite3.connect(tmp_path / "data" / "notify-dead" / "wecom.sqlite").execute("SELECT payload FROM outbox")
    assert d.dead.count() == 1 and "send?key=***" in status and "send?key=***" in json.loads(row[0])["reason"]
    files = b"".join(f.read_bytes() for f in (tmp_path / "data" / "notify-dead").iterdir())
    assert b"wk-secret" not in files and "wk-secret" not in status


def test_failures_between_refusals_neither_count_nor_reset_them(tmp_path, receiver, monkeypatch):
    """What ``refused_tries`` counts: the refusals of the event at the head, not a run of them. A receiver
    flapping between 503 and 400 (a redeploy) still moves the bad event aside; counting only an unbroken
    run, one timeout per cycle would have held the sink for good — the thing dead letters are for."""
    monkeypatch.setenv("HOOK_KEY", KEY)
    clock = FakeClock()
    svc = NotifyService(config(tmp_path, [sink(receiver.url, refused_tries=2)]), bus := EventBus(), clock)
    (d,) = svc.open()
    receiver.script = [(400, {}, b"bad"), (503, {}, b"busy"), (400, {}, b"bad")]
    bus.publish(violation(clock))
    for _ in range(3):
        clock.advance(d.pump())
    svc.stop()
    assert (d.dead.count(), d.depth(), len(receiver.requests)) == (1, 0, 3)
