"""Notifications through a real loopback HTTP server that fails, hangs past the timeout and
recovers, across a restart of the sender: nothing lost, nothing twice for a receiver that
de-duplicates by X-Event-Id. Backoff runs on a FakeClock; only the hang costs real time."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote_plus

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event
from edge_agent.notify.service import NotifyService
from edge_agent.sim.scenario import scene_config
from tests.notify.helpers import config, drain, violation

KEY = "webhook-signing-key-0123456789"


def test_outage_timeouts_and_a_restart_lose_nothing_and_deliver_each_once(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("HOOK_KEY", KEY)
    clock = FakeClock()
    cfg = config(tmp_path, [{"name": "backend", "kind": "webhook", "url": receiver.url, "secret_env": "HOOK_KEY",
                             "timeout_s": 0.2, "backoff_s": 1, "max_backoff_s": 60,
                             "events": ["violation_started", "charger_suspect"]}])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    (d,) = svc.open()
    sent: list[str] = []

    def publish(n: int) -> None:
        for _ in range(n):
            ev = violation(clock, i=len(sent))
            bus.publish(ev)
            bus.publish(Event.make("vehicle_arrived", clock, bay_id="A"))  # not this sink's: never sent
            sent.append(ev.event_id)
            clock.advance(1)

    publish(10)
    drain(svc, clock)
    assert len(receiver.unique) == 10 and d.counts.failures == 0

    receiver.mode = "fail"  # 503s
    publish(10)
    waits = [d.pump() for _ in range(1)]
    for _ in range(6):
        clock.advance(waits[-1])
        waits.append(d.pump())
    assert waits[:6] == [1, 2, 4, 8, 16, 32] and waits[6] == 60  # doubling, capped
    assert d.depth() == 10 and "HTTP 503" in d.last_error

    receiver.mode = "hang"  # takes the message but answers after the client's timeout
    clock.advance(60)
    assert d.pump() > 0 and "TimeoutError" in d.last_error
    clock.advance(60)
    d.pump()  # the same head row again: the receiver sees it twice, keeps it once
    publish(5)
    svc.stop()  # the agent restarts during the outage: 15 rows wait on disk

    receiver.mode = "ok"
    svc = NotifyService(cfg, bus, clock)
    (d,) = svc.open()
    assert d.depth() == 15
    publish(5)
    drain(svc, clock)
    svc.stop()

    raw = [r.event_id for r in receiver.requests if r.event_id]
    lost = set(sent) - {eid for _, eid in receiver.unique}
    print(f"\nnotify outage: sent {len(sent)}, requests {len(raw)} ({len(raw) - receiver.taken} refused), "
          f"delivered (unique) {len(receiver.unique)}, duplicates taken in {receiver.taken - len(receiver.unique)} "
          f"(discarded by X-Event-Id), lost {len(lost)}")
    assert lost == set() and len(receiver.unique) == len(sent) == 30
    assert receiver.order == sent  # in order, despite retries and a restart
    assert receiver.taken > len(receiver.unique)  # the hang did cause redeliveries: the id header saves them
    for r in receiver.requests:  # every request is signed, and the signature checks out
        want = hmac.new(KEY.encode(), r.headers["x-edge-timestamp"].encode() + b"." + r.body, hashlib.sha256)
        assert r.headers["x-edge-signature"] == "sha256=" + want.hexdigest()
        doc = json.loads(r.body)
        assert doc["event"]["event_id"] == r.event_id and doc["site"] == "demo-site"
        assert doc["link"] == f"https://review.plaza-7.example/violations/by-event/{r.event_id}"


def test_quiet_hours_hold_messages_until_morning(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("HOOK_KEY", KEY)
    # 22:30 in Shanghai (site.timezone of scene_config's default) = 14:30 UTC
    clock = FakeClock(datetime(2026, 3, 2, 14, 30, tzinfo=timezone.utc))
    cfg = config(tmp_path, [{"name": "night", "kind": "webhook", "url": receiver.url,
                             "quiet_hours": {"start": "22:00", "end": "07:00"}}])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    (d,) = svc.open()
    bus.publish(violation(clock))
    for _ in range(8 * 60):  # every minute until 06:30: nothing goes out
        if clock.now() >= datetime(2026, 3, 2, 22, 30, tzinfo=timezone.utc):
            break
        d.pump()
        clock.advance(60)
    assert receiver.requests == [] and d.depth() == 1
    clock.advance((datetime(2026, 3, 2, 23, 0, tzinfo=timezone.utc) - clock.now()).total_seconds())  # 07:00
    d.pump()
    svc.stop()
    assert len(receiver.unique) == 1 and "x-edge-signature" not in receiver.requests[0].headers  # no key: unsigned


def _sent_at(tmp_path, receiver, zone: str, quiet: tuple[str, str], publish: datetime, until: datetime) -> datetime:
    """The UTC minute a violation published at ``publish`` reached the receiver, pumping every minute."""
    cfg = scene_config(str(tmp_path / "data"), site={"timezone": zone},
                       notify={"sinks": [{"name": "night", "kind": "webhook", "url": receiver.url,
                                          "quiet_hours": {"start": quiet[0], "end": quiet[1]}}]})
    clock = FakeClock(publish)
    svc = NotifyService(cfg, EventBus(), clock)
    (d,) = svc.open()
    svc.bus.publish(violation(clock))
    try:
        while clock.now() <= until:
            d.pump()
            if receiver.requests:
                return clock.now().astimezone(timezone.utc)
            clock.advance(60)
    finally:
        svc.stop()
    raise AssertionError(f"not sent by {until}")


@pytest.mark.parametrize(("zone", "quiet", "publish", "sent"), [
    # quiet from the first 02:30 of the night summer time ends (00:30 UTC); the clocks go back from 03:00 to 02:00
    # at 01:00 UTC: the night's alerts went out then, at 02:00 (before 02:30, so "not quiet"), not at 06:00
    ("Europe/Berlin", ("02:30", "06:00"), datetime(2026, 10, 25, 0, 45), datetime(2026, 10, 25, 5, 0)),
    # the same with the 1-hour-back at 02:00 in New York (06:00 UTC) and a window from 01:30 (05:30 UTC)
    ("America/New_York", ("01:30", "07:00"), datetime(2026, 11, 1, 5, 40), datetime(2026, 11, 1, 12, 0)),
    # Lord Howe Island turns back half an hour, 02:00 to 01:30 (15:00 UTC): quiet from 01:45 (14:45 UTC)
    ("Australia/Lord_Howe", ("01:45", "07:00"), datetime(2026, 4, 4, 14, 50), datetime(2026, 4, 4, 20, 30)),
    # quiet until 01:30 (EDT: 05:30 UTC), then the clocks went back to 01:00 and an alert at 01:10 EST waited
    # a second 01:30 (06:30 UTC): the window closed twice
    ("America/New_York", ("22:00", "01:30"), datetime(2026, 11, 1, 6, 10), datetime(2026, 11, 1, 6, 10)),
    # the spring change: 02:00 to 03:00 (01:00 UTC); a window ending at 02:30, which the clocks skip, ends then
    ("Europe/Berlin", ("22:00", "02:30"), datetime(2026, 3, 28, 23, 0), datetime(2026, 3, 29, 1, 0)),
    ("Europe/Berlin", ("02:30", "06:00"), datetime(2026, 3, 29, 0, 59), datetime(2026, 3, 29, 0, 59)),
    ("Asia/Kathmandu", ("22:00", "06:00"), datetime(2026, 6, 1, 16, 30), datetime(2026, 6, 2, 0, 15)),
])
def test_quiet_hours_open_and_close_once_in_the_night_the_clocks_change(tmp_path, receiver, zone, quiet, publish,
                                                                          sent):
    """Quiet hours are the site's clock readings, except in the hour a clock shows twice (summer time ends):
    its second pass keeps the state the first pass ended in. Read as a bare clock reading, a window starting in
    that hour let the night's held alerts out when the clocks went back (02:00 < 02:30), and one ending in it
    shut again for the repeated part."""
    publish, sent = publish.replace(tzinfo=timezone.utc), sent.replace(tzinfo=timezone.utc)
    assert _sent_at(tmp_path, receiver, zone, quiet, publish, sent + timedelta(hours=2)) == sent


def test_wecom_and_dingtalk_robot_markdown_and_their_error_codes(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("WECOM_KEY", "wk-123")
    monkeypatch.setenv("DING_TOKEN", "dt-456")
    (tmp_path / "ding.sec").write_text("SEC-abc\n")
    clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))  # 09:00 in Shanghai
    base = receiver.url.rsplit("/", 1)[0]
    cfg = config(tmp_path, [
        {"name": "wecom", "kind": "wecom", "url": base + "/cgi-bin/webhook/send", "secret_env": "WECOM_KEY",
         "events": ["violation_started"]},
        {"name": "ding", "kind": "dingtalk", "url": base + "/robot/send", "secret_env": "DING_TOKEN",
         "sign_secret_file": str(tmp_path / "ding.sec"), "events": ["violation_started", "charger_suspect"]},
    ])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    wecom, ding = svc.open()
    receiver.mode = "robot_busy"  # HTTP 200 with errcode 45009: not delivered, retried
    ev = violation(clock, bay="A1", plate="粤B12345")
    bus.publish(ev)
    bus.publish(Event.make("charger_suspect", clock, bay_id="A1",
                           data={"charger_id": "c1", "reason": "3 NEV visits", "evidence": {"visits": []}}))
    assert wecom.pump() > 0 and ding.pump() > 0 and "45009" in wecom.last_error
    receiver.mode = "ok"
    drain(svc, clock)
    svc.stop()
    w = [r for r in receiver.unique.values() if r.path.endswith("/webhook/send")]
    g = [r for r in receiver.unique.values() if r.path.endswith("/robot/send")]
    assert len(w) == 1 and len(g) == 2
    assert w[0].query["key"] == ["wk-123"]
    text = json.loads(w[0].body)["markdown"]["content"]
    for part in ("充电车位有车停放，待审核", "A1", "粤B12345", "车牌判读为燃油车", "2 分钟", "2026-03-02 09:00:00 +08:00",
                 f"https://review.plaza-7.example/violations/by-event/{ev.event_id}"):
        assert part in text, (part, text)
    q = g[0].query
    assert q["access_token"] == ["dt-456"]
    import base64

    want = base64.b64encode(hmac.new(b"SEC-abc", f"{q['timestamp'][0]}\nSEC-abc".encode(), hashlib.sha256).digest())
    assert q["sign"] == [want.decode()]
    md = json.loads(g[1].body)["markdown"]
    assert md["title"] == "疑似僵尸桩" and md["text"].endswith("(https://review.plaza-7.example/bays)")
    assert clock.now() - datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc) < timedelta(minutes=1)


def test_the_running_service_delivers_from_its_own_threads(tmp_path, receiver):
    clock = FakeClock()
    cfg = config(tmp_path, [{"name": "a", "kind": "webhook", "url": receiver.url},
                            {"name": "b", "kind": "webhook", "url": receiver.url.replace("/hook", "/other")}])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    svc.start()
    try:
        for i in range(5):
            bus.publish(violation(clock, i=i))
        assert receiver.wait_for(10), receiver.requests
    finally:
        svc.stop()
    assert {p for p, _ in receiver.unique} == {"/hook", "/other"}
    assert (tmp_path / "data" / "notify-a.sqlite").is_file()


@pytest.mark.parametrize("sink,where", [
    ({"name": "x", "kind": "webhook"}, "notify.sinks[0]"),
    ({"name": "x", "kind": "wecom"}, "notify.sinks[0]"),
    ({"name": "x", "kind": "webhook", "url": "https://h.example/x?key=abc"}, "notify.sinks[0].url"),
    ({"name": "x", "kind": "webhook", "url": "ftp://h.example/"}, "notify.sinks[0].url"),
    ({"name": "x", "kind": "webhook", "url": "https://h.example:99999/x"}, "notify.sinks[0].url"),
    ({"name": "x", "kind": "webhook", "url": "https://h.example/a\r\nX-Evil: 1"}, "notify.sinks[0].url"),
    ({"name": "x", "kind": "webhook", "url": "https://h .example/x"}, "notify.sinks[0].url"),
    ({"name": "x", "kind": "webhook", "url": "https://h..example/x"}, "notify.sinks[0].url"),
    ({"name": "x", "kind": "webhook", "url": "https://h", "timeout_s": float("nan")}, "notify.sinks[0].timeout_s"),
    ({"name": "x", "kind": "webhook", "url": "https://h", "quiet_hours": {"start": "25:00", "end": "07:00"}},
     "notify.sinks[0].quiet_hours.start"),
    ({"name": "x", "kind": "webhook", "url": "https://h", "events": ["Violation Started"]}, "notify.sinks[0].events"),
    ({"name": "x", "kind": "webhook", "url": "https://h", "sign_secret_env": "S"}, "notify.sinks[0]"),
])
def test_bad_sinks_are_config_errors_naming_the_key(tmp_path, sink, where):
    from edge_agent.config.load import ConfigError

    with pytest.raises(ConfigError) as exc:
        config(tmp_path, [sink])
    assert any(p.startswith(where) for p in exc.value.problems), exc.value.problems


def test_a_missing_secret_stops_the_start_naming_the_key(tmp_path, monkeypatch):
    from edge_agent.config.mqtt import SecretError

    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    cfg = config(tmp_path, [{"name": "w", "kind": "wecom", "secret_env": "NO_SUCH_KEY"}])
    with pytest.raises(SecretError, match=r"notify.sinks\[0\].secret_env: environment variable NO_SUCH_KEY"):
        NotifyService(cfg, EventBus(), FakeClock()).open()


def test_an_unreadable_outbox_row_does_not_block_the_ones_behind_it(tmp_path, receiver):
    clock = FakeClock()
    cfg = config(tmp_path, [{"name": "a", "kind": "webhook", "url": receiver.url}])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    (d,) = svc.open()
    d.outbox.put("a", b"{not json", protected=True)  # a damaged row (disk, an old version)
    ev = violation(clock)
    bus.publish(ev)
    d.pump()
    status = svc.status()["a"]
    svc.stop()
    assert [eid for _, eid in receiver.unique] == [ev.event_id] and d.counts.delivered == 1
    assert status["dead"] == 1 and status["last_dead"]["status"] is None  # moved aside, not deleted
    assert "unreadable outbox row" in status["last_dead"]["reason"]


def test_an_endpoint_quoting_the_url_does_not_put_keys_in_the_heartbeat(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("WECOM_KEY", "wk-secret+/=1")
    monkeypatch.setenv("DING_TOKEN", "dt-secret-456")
    monkeypatch.setenv("DING_SIGN", "SEC-sign-789")
    base = receiver.url.rsplit("/", 1)[0]
    clock = FakeClock()
    cfg = config(tmp_path, [
        {"name": "wecom", "kind": "wecom", "url": base + "/cgi-bin/webhook/send", "secret_env": "WECOM_KEY"},
        {"name": "ding", "kind": "dingtalk", "url": base + "/robot/send", "secret_env": "DING_TOKEN",
         "sign_secret_env": "DING_SIGN"},
    ])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    wecom, ding = svc.open()
    receiver.mode = "echo"
    bus.publish(violation(clock))
    assert wecom.pump() > 0 and ding.pump() > 0
    svc_status = json.dumps(svc.status(), ensure_ascii=False)
    svc.stop()
    sign = receiver.requests[-1].query["sign"][0]
    assert "no route for POST /cgi-bin/webhook/send?key=***" in svc_status
    for secret in ("wk-secret", "wk-secret%2B%2F%3D1", "dt-secret-456", "SEC-sign-789", sign, quote_plus(sign)):
        assert secret not in svc_status, secret


def test_one_sinks_queue_failing_does_not_cost_the_other_sinks_the_event(tmp_path, receiver, monkeypatch):
    """The loop over the sinks stopped at the first one whose queue raised: the sinks after it never
    had the event. The failing sink says so in its status."""
    import sqlite3

    clock = FakeClock()
    cfg = config(tmp_path, [{"name": "a", "kind": "webhook", "url": receiver.url},
                            {"name": "b", "kind": "webhook", "url": receiver.url.replace("/hook", "/other")}])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    first, second = svc.open()

    def damaged(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the file went bad under the agent
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(first.outbox, "put", damaged)
    ev = violation(clock)
    bus.publish(ev)
    assert second.depth() == 1 and first.depth() == 0
    assert ev.event_id in (svc.status()["a"]["error"] or "") and "malformed" in svc.status()["a"]["error"]
    drain(svc, clock)
    assert [p for p, _ in receiver.unique] == ["/other"]
    svc.stop()


def test_a_delivered_alert_is_deleted_synced_a_robot_group_cannot_de_duplicate(tmp_path, receiver, monkeypatch):
    """A WeCom / DingTalk group shows every post to people: a deletion a power cut took would post the alert again
    at the next start. The MQTT outbox deletes unsynced (its consumers de-duplicate on event_id); a sink's may not.
    Before: each of the 3 deliveries' deletion committed at synchronous=NORMAL."""
    monkeypatch.setenv("WECOM_KEY", "wk-123")
    clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    base = receiver.url.rsplit("/", 1)[0]
    cfg = config(tmp_path, [{"name": "wecom", "kind": "wecom", "url": base + "/cgi-bin/webhook/send",
                             "secret_env": "WECOM_KEY", "events": ["violation_started"]}])
    bus = EventBus()
    svc = NotifyService(cfg, bus, clock)
    (d,) = svc.open()
    for i in range(3):
        bus.publish(violation(clock, i=i))
    drain(svc, clock)
    assert len(receiver.unique) == 3 and d.depth() == 0
    assert (d.outbox.synced_commits, d.outbox.unsynced_commits) == (6, 0)  # 3 rows in, 3 deletions: all synced
    svc.stop()
