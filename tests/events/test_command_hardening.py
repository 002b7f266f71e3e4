"""Issue 15 §4 over a real mosquitto: where replies may go, how much of a hostile value is echoed,
a full command queue, lock-refusal floods, plate syntax in set-lists, replay memory across restarts."""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.clock import FakeClock, iso
from edge_agent.config.mqtt import COMMAND_MAX_AGE_CAP_S
from edge_agent.events.bus import EventBus
from edge_agent.events.command_handler import sign_command
from edge_agent.events.health import no_health
from edge_agent.events.mqtt_link import LISTS_EVERY_S, build_mqtt
from edge_agent.events.types import Event, EventType
from tests.damage import damage_pages
from tests.events.helpers import RecordingControl, Subscriber, make_config, wait_until

pytestmark = pytest.mark.broker

PREFIX = "edge/s1/dev1"
KEY = "k3y-for-dev1-only"
_corr = itertools.count(1)


@pytest.fixture
def setup(broker, tmp_path, monkeypatch):
    """(make_link(data_dir=…, **kw), backend subscribed to everything, control, clock)."""
    monkeypatch.setenv("EDGE_TEST_HMAC", KEY)
    clock, control, links = FakeClock(), RecordingControl(occupied={"B3"}), []
    backend = Subscriber(broker.port, ["#"], v5=True).start()

    def make(data_dir: Path | None = None, bus: EventBus | None = None, command_queue: int = 1000, ctl=None,
             limits: dict | None = None, **mqtt):
        cfg = make_config(broker.url(), data_dir or tmp_path / f"data{len(links)}", **mqtt)
        link = build_mqtt(cfg, bus or EventBus(), ctl or control, clock, no_health, command_queue=command_queue,
                          **(limits or {}))
        links.append(link)
        before = len(backend.on(f"{PREFIX}/status"))
        link.start()
        wait_until(lambda: any(m.json()["state"] == "online" for m in backend.on(f"{PREFIX}/status")[before:]),
                   what="the link online")
        return link

    yield make, backend, control, clock
    for link in links:
        link.stop()
    backend.stop()


def now(clock, shift_s: float = 0) -> str:
    return iso(clock.now() + timedelta(seconds=shift_s))


def send(backend: Subscriber, name: str, body, response_topic: str, raw: bytes | None = None) -> tuple[bytes, str]:
    corr = f"req-{next(_corr)}".encode()
    backend.request(f"{PREFIX}/cmd/{name}", body, response_topic, corr, raw=raw)
    return corr, f"{PREFIX}/cmd/{name}"


def reply_with(backend: Subscriber, sent: tuple[bytes, str]):
    """The one reply carrying the request's correlation data, wherever it was published."""
    corr, request_topic = sent
    def found():
        hits = [m for m in backend.all() if m.topic != request_topic and m.props is not None
                and getattr(m.props, "CorrelationData", None) == corr]
        return hits or None
    hits = wait_until(found, what=f"the reply to {corr!r}")
    assert len(hits) == 1, [h.topic for h in hits]
    return hits[0]


# -- 1. reply_to ----------------------------------------------------------------------------------
OWN_TREE = [f"{PREFIX}/events", f"{PREFIX}/bays/B1/state", f"{PREFIX}/status", f"{PREFIX}/health", PREFIX,
            f"{PREFIX}/cmd/lock", "edge/s1/dev2/cmd/lock", "$SYS/broker/x", "x" * 600,
            "homeassistant/binary_sensor/dev1/B1_occupied/config"]  # the device may write there: a config
ALLOWED = [f"{PREFIX}/reply", f"{PREFIX}/reply/backend-7", "backend/replies/7", "edge/s1/dev2/reply"]


def test_replies_never_land_in_the_agents_own_tree_or_a_command_inbox(setup):
    make, backend, control, clock = setup
    make()
    body = {"ts": now(clock), "bay": "B1", "status": "charging"}
    for topic in OWN_TREE:
        msg = reply_with(backend, send(backend, "charger-status", body, topic))
        assert msg.topic == f"{PREFIX}/reply", topic
    for topic in ALLOWED:
        msg = reply_with(backend, send(backend, "charger-status", body, topic))
        assert msg.topic == topic
    assert not list(backend.on(f"{PREFIX}/events"))
    assert len(control.calls) == len(OWN_TREE) + len(ALLOWED)  # the command itself still ran


# Another device's documents: `edge-agent consume` (and any backend subscribed to edge/+/+/…) stored a reply
# published there as that device's status, health or bay state.
OTHER_DEVICES = ["edge/s1/dev2/status", "edge/s1/dev2/health", "edge/s1/dev2/bays/B1/state",
                 "edge/s1/dev2/events", "edge/s2/dev9/stats/daily",
                 # empty levels: ``edge/+/+/…`` matches them, and ``consume`` stored the reply as site "" (or device
                 # "")'s document until 2026-12-06
                 "edge//dev2/status", "edge/s1//health", "edge///bays/A/state", "edge//dev2/bays/B1/state"]


def test_replies_never_land_on_another_devices_documents(setup):
    from edge_agent.consumer.service import parse

    make, backend, control, clock = setup
    make()
    body = {"ts": now(clock), "bay": "B1", "status": "charging"}
    for topic in OTHER_DEVICES:
        msg = reply_with(backend, send(backend, "charger-status", body, topic))
        assert msg.topic == f"{PREFIX}/reply", topic
    assert not [m for m in backend.all() if m.topic in OTHER_DEVICES and parse(m.topic, m.payload)]
    for topic in ("edge/s1/dev2/reply/backend", "edge/s1/dev2/replies", "backend/edge/s1/dev2/status"):
        assert reply_with(backend, send(backend, "charger-status", body, topic)).topic == topic


def test_mqtt_311_reply_to_into_events_goes_to_the_reply_topic(setup, broker):
    make, backend, control, clock = setup
    make(protocol="3.1.1")
    old = Subscriber(broker.port, ["#"], v5=False).start()
    try:
        for i, topic in enumerate((f"{PREFIX}/events", f"{PREFIX}/bays/B2/state")):
            body = {"ts": now(clock), "bay": "B4", "status": "idle", "reply_to": topic, "correlation_id": f"c{i}"}
            old.c.publish(f"{PREFIX}/cmd/charger-status", __import__("json").dumps(body), qos=1)
            got = old.wait_for(f"{PREFIX}/reply", lambda m, i=i: m.json().get("correlation_id") == f"c{i}")
            assert got.json()["ok"]
        assert not old.on(f"{PREFIX}/events") and not old.on(f"{PREFIX}/bays/B2/state")
    finally:
        old.stop()


# -- 3. field lengths ----------------------------------------------------------------------------
# far over every field's limit; under the 64 KiB a lock command's topic takes (over it: too_large, unread, review62)
MB = "x" * 60_000


@pytest.mark.parametrize("field", ["correlation_id", "bay", "reason", "operator", "id", "reply_to"])
def test_a_huge_value_is_refused_and_quoted_short(setup, caplog, field):
    make, backend, control, clock = setup
    make()
    caplog.set_level(logging.INFO)
    body = {"ts": now(clock), "bay": "B1", "reason": "fuel car", "operator": "alice", field: MB}
    msg = reply_with(backend, send(backend, "lock", body, "backend/r"))
    r = msg.json()
    assert (r["ok"], r["code"]) == (False, "schema_violation")
    assert r["message"].startswith(f"{field}: ")
    assert len(msg.payload) < 1500, len(msg.payload)
    assert r["correlation_id"] is None and r["id"] is None
    assert control.calls == []
    assert max(len(rec.getMessage()) for rec in caplog.records) < 1000


def test_a_huge_command_name_and_unknown_bay_are_quoted_short(setup, caplog):
    make, backend, control, clock = setup
    make()
    name = "n" * 20_000
    msg = reply_with(backend, send(backend, name, {"ts": now(clock)}, "backend/r"))
    assert msg.json()["code"] == "unknown_command" and len(msg.payload) < 1500
    assert msg.json()["message"].startswith("unknown command 'nnn")  # was "unknown cmd command"
    body = {"ts": now(clock), "bay": "B" * 64, "reason": "r", "operator": "o"}
    msg = reply_with(backend, send(backend, "lock", body, "backend/r"))
    assert msg.json()["code"] == "unknown_bay" and len(msg.payload) < 1500
    assert max(len(rec.getMessage()) for rec in caplog.records) < 1000


def test_plates_in_set_lists_are_capped_and_checked(setup):
    make, backend, control, clock = setup
    make()
    r = reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD12345"] * 3 + [MB]},
                                 "backend/r")).json()
    assert (r["code"], r["message"][:9]) == ("schema_violation", "allow/3: ")
    assert len(r["message"]) < 400


# -- 5. plate syntax -------------------------------------------------------------------------------
def test_set_lists_refuses_strings_that_are_not_plates_naming_the_entry(setup):
    make, backend, control, clock = setup
    make()
    body = {"ts": now(clock), "allow": ["京AD12345", "<script>x"], "deny": ["粤B12345"]}
    r = reply_with(backend, send(backend, "set-lists", body, "backend/r")).json()
    assert (r["ok"], r["code"]) == (False, "bad_plate")
    assert "allow[1]" in r["message"] and "<script>x" in r["message"]
    r = reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "deny": ["京A12345", "京A1234"]},
                                 "backend/r")).json()
    assert r["code"] == "bad_plate" and "deny[1]" in r["message"]
    assert control.calls == []
    good = ["京AD12345", "皖A·D1234 5", "粤Z1234港", "沪A12345", "使123456", "WJ01A1234"]
    r = reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "allow": good}, "backend/r")).json()
    assert r["ok"], r
    assert control.calls == [("set_lists", good, None)]


# -- 4. full queue, refusal flood --------------------------------------------------------------------
class BlockingControl(RecordingControl):
    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def charger_status(self, bay_id: str, status: str):
        self.entered.set()
        assert self.release.wait(20)
        return super().charger_status(bay_id, status)


def test_commands_dropped_by_a_full_queue_get_a_busy_reply(setup, broker, tmp_path):
    make, backend, _, clock = setup
    control = BlockingControl()
    link = make(ctl=control, command_queue=2)
    try:
        body = {"ts": now(clock), "bay": "B1", "status": "charging"}
        first = send(backend, "charger-status", body, "backend/busy")
        wait_until(control.entered.is_set, what="the first command to run")
        queued = [send(backend, "charger-status", body, "backend/busy") for _ in range(2)]
        wait_until(lambda: link._cmd_q.full(), what="the queue to fill")
        dropped = [send(backend, "charger-status", body, "backend/busy") for _ in range(3)]
        for corr in dropped:
            r = reply_with(backend, corr).json()
            assert (r["ok"], r["code"], r["command"]) == (False, "busy", "charger-status")
        control.release.set()
        for corr in [first, *queued]:
            assert reply_with(backend, corr).json()["ok"]
        assert len(control.calls) == 3
    finally:
        control.release.set()


def test_at_stop_queued_commands_are_answered_and_a_late_one_is_told_shutting_down(setup):
    """Stopping disconnected at once: a queued command ran after the disconnect, its reply lost, and one that came
    after the queue closed was never answered (nor redelivered: clean start). Neither may be left without a word."""
    make, backend, _, clock = setup
    control = BlockingControl()
    link = make(ctl=control)
    body = {"ts": now(clock), "bay": "B1", "status": "charging"}
    try:
        running = send(backend, "charger-status", body, "backend/stop")
        wait_until(control.entered.is_set, what="the first command to run")
        queued = send(backend, "charger-status", body, "backend/stop")
        wait_until(lambda: link._cmd_q.qsize() == 1, what="the second command queued")
        stopper = threading.Thread(target=link.stop)
        stopper.start()
        wait_until(lambda: link._cmd_q.closed, what="the stop to begin")
        late = send(backend, "charger-status", body, "backend/stop")
        r = reply_with(backend, late).json()
        assert (r["ok"], r["code"], r["command"]) == (False, "shutting_down", "charger-status")
        control.release.set()
        stopper.join(15)
        assert [reply_with(backend, c).json()["ok"] for c in (running, queued)] == [True, True]
        assert len(control.calls) == 2
    finally:
        control.release.set()


def test_replies_waiting_to_go_out_are_bounded(setup, broker, caplog):
    """Every command gets a reply (a busy or malformed one too) and paho held each in memory until the broker
    acknowledged it: 8,000 garbage commands a second grew a real ``run`` from 197 to 729 MB in 25 s and the outbox's
    events waited behind them. A broker that acknowledges nothing (stopped) stands for one the flood outpaces."""
    import os
    import signal

    from edge_agent.events.command_handler import Reply
    from edge_agent.events.mqtt_link import REPLY_BACKLOG

    make, backend, control, clock = setup
    link = make()
    held = link.conn.client._out_messages
    assert broker._proc is not None
    os.kill(broker._proc.pid, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="edge_agent.events.mqtt_link"):
            for _ in range(3 * REPLY_BACKLOG):
                link._send_reply(Reply(f"{PREFIX}/reply/flood", {"ok": False, "code": "busy"}))
        assert len(held) <= REPLY_BACKLOG
        assert link.replies_dropped >= 2 * REPLY_BACKLOG and link.stats()["replies_dropped"] == link.replies_dropped
        assert len([r for r in caplog.records if "waiting to go out" in r.getMessage()]) <= 5  # the log's budget
    finally:
        os.kill(broker._proc.pid, signal.SIGCONT)
    wait_until(lambda: len(held) == 0, timeout=30, what="the held replies to go out")
    sent = send(backend, "charger-status", {"ts": now(clock), "bay": "B1", "status": "charging"}, "backend/after")
    assert reply_with(backend, sent).json()["ok"]


def test_a_reply_is_not_dropped_behind_the_outbox_s_events(setup, broker):
    """The bound is on the replies themselves, not on everything paho holds: with 600 events waiting for the broker
    (an outbox drained after an hour's outage at ``outbox.window`` 1,000, or the retained states and Home Assistant
    configs said again at a reconnect) the bound on paho's whole queue dropped every command's reply, a lock
    command's too, done but never answered, so the backend sent it again."""
    import os
    import signal

    from edge_agent.events.command_handler import Reply

    make, backend, control, clock = setup
    link = make()
    held = link.conn.client._out_messages
    assert broker._proc is not None
    os.kill(broker._proc.pid, signal.SIGSTOP)
    try:
        for i in range(600):
            link.conn.publish(f"{PREFIX}/events", b'{"n": %d}' % i, qos=1)
        assert len(held) >= 600
        corr = b"lock-42"
        link._send_reply(Reply(f"{PREFIX}/reply/lock", {"ok": True, "code": "lowered"}, corr))
        assert link.replies_dropped == 0
    finally:
        os.kill(broker._proc.pid, signal.SIGCONT)
    wait_until(lambda: list(backend.on(f"{PREFIX}/reply/lock")) or None, timeout=30, what="the lock's reply")


def _plates(n: int) -> list[str]:
    return [f"京AD{i:05d}" for i in range(n)]


def test_big_commands_are_bounded_by_the_bytes_waiting_not_only_by_their_count(setup):
    """A count alone let 1,000 queued commands of 20 MB each hold 20 GB (60 of them: +600 MB RSS in a real run)."""
    make, backend, _, clock = setup
    control = BlockingControl()
    link = make(ctl=control, limits={"queue_bytes": 80_000})
    try:
        first = send(backend, "charger-status", {"ts": now(clock), "bay": "B1", "status": "charging"}, "backend/q")
        wait_until(control.entered.is_set, what="the first command to run")
        big = {"ts": now(clock), "allow": _plates(4000)}  # ≈ 56 KB, a valid set-lists
        queued = send(backend, "set-lists", big, "backend/q")
        wait_until(lambda: link._cmd_q.qsize() == 1, what="the big command queued")
        over = send(backend, "set-lists", big, "backend/q")  # would take the bytes waiting past 80 KB
        r = reply_with(backend, over).json()
        assert (r["ok"], r["code"], r["command"]) == (False, "busy", "set-lists")
        small = send(backend, "set-lists", {"ts": now(clock), "deny": ["粤B12345"]}, "backend/q")  # still fits
        wait_until(lambda: link._cmd_q.qsize() == 2, what="the small command queued")
        control.release.set()
        for sent in (first, queued):
            assert reply_with(backend, sent).json()["ok"]
        clock.advance(LISTS_EVERY_S)  # the second set-lists is held that long after the first was written
        assert reply_with(backend, small).json()["ok"]
        assert [c[0] for c in control.calls] == ["charger_status", "set_lists", "set_lists"]
        assert link._cmd_q.bytes_waiting() == 0
    finally:
        control.release.set()


def test_a_payload_bigger_than_any_command_is_refused_unread_with_mqtt_311(setup, broker):
    make, backend, control, clock = setup
    link = make(protocol="3.1.1", limits={"command_max_bytes": 50_000})
    old = Subscriber(broker.port, [f"{PREFIX}/reply"], v5=False).start()
    try:
        body = {"ts": now(clock), "allow": _plates(4000), "correlation_id": "big"}
        old.c.publish(f"{PREFIX}/cmd/set-lists", json.dumps(body), qos=1)
        r = old.wait_for(f"{PREFIX}/reply", lambda m: m.json()["code"] == "too_large").json()
        assert (r["ok"], r["command"], r["correlation_id"]) == (False, "set-lists", None)  # never parsed
        assert "50000 bytes" in r["message"]
        assert control.calls == [] and link.stats()["commands_too_large"] == 1
        body = {"ts": now(clock), "allow": _plates(10), "correlation_id": "small"}
        old.c.publish(f"{PREFIX}/cmd/set-lists", json.dumps(body), qos=1)
        assert old.wait_for(f"{PREFIX}/reply", lambda m: m.json()["correlation_id"] == "small").json()["ok"]
    finally:
        old.stop()


def test_with_mqtt_5_the_broker_is_told_not_to_send_a_payload_bigger_than_any_command(setup):
    """CONNECT's Maximum Packet Size: paho would read a broker's 256 MB message whole before we could refuse it."""
    make, backend, control, clock = setup
    link = make(limits={"command_max_bytes": 50_000})
    big = send(backend, "set-lists", {"ts": now(clock), "allow": _plates(8000)}, "backend/p")  # 152 KB
    small = send(backend, "set-lists", {"ts": now(clock), "allow": _plates(10)}, "backend/p")
    assert reply_with(backend, small).json()["ok"]  # sent after the big one, on the same connection
    assert not [m for m in backend.all() if m.props is not None and getattr(m.props, "CorrelationData", None) == big[0]
                and m.topic != big[1]]
    assert control.calls == [("set_lists", _plates(10), None)]
    assert link.stats()["commands_too_large"] == 0  # the broker kept it: it never reached the device


def _refusal(clock, bay: str, code: str) -> Event:
    return Event.make(EventType.LOCK_REFUSED, clock, bay_id=bay,
                      data={"lock_id": f"L-{bay}", "code": code, "reason": "vehicle present", "operator": "mallory"})


def test_identical_lock_refusals_are_rate_limited_with_a_suppressed_count(setup):
    make, backend, control, clock = setup
    bus = EventBus()
    link = make(bus=bus)
    link.pump.connected(False)  # keep rows in the outbox so the test can count them
    base = link.outbox.depth()
    for _ in range(500):
        bus.publish(_refusal(clock, "B1", "bay_occupied"))
    bus.publish(_refusal(clock, "B1", "camera_not_ok"))  # another reason: its own event
    bus.publish(_refusal(clock, "B2", "bay_occupied"))  # another bay: its own event
    assert link.outbox.depth() - base == 3
    clock.advance(link._m.outbox.repeat_refusal_s + 1)
    bus.publish(_refusal(clock, "B1", "bay_occupied"))
    assert link.outbox.depth() - base == 4
    link.pump.connected(True)
    link.pump.wake()
    events = wait_until(lambda: [m.json() for m in backend.on(f"{PREFIX}/events")] if len(
        backend.on(f"{PREFIX}/events")) >= 4 else None, what="4 events")
    b1 = [e for e in events if e["bay_id"] == "B1" and e["data"]["code"] == "bay_occupied"]
    assert [e["data"].get("suppressed", 0) for e in b1] == [0, 499]


# -- 2. replay memory across restarts -------------------------------------------------------------
def test_a_signed_command_replayed_after_a_restart_is_refused(setup, tmp_path):
    make, backend, control, clock = setup
    data = tmp_path / "same-data-dir"
    body = sign_command("lock", {"ts": now(clock), "bay": "B2", "reason": "fuel car", "operator": "alice"},
                        KEY.encode())
    link = make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC")
    assert reply_with(backend, send(backend, "lock", body, "backend/r")).json()["ok"]
    link.stop()
    clock.advance(30)  # still within the 60 s freshness window
    link = make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC")
    assert reply_with(backend, send(backend, "lock", body, "backend/r")).json()["code"] == "replay"
    assert control.calls == [("lock", "B2", "fuel car", "alice")]
    fresh = sign_command("lock", {"ts": now(clock), "bay": "B1", "reason": "fuel car", "operator": "alice"},
                         KEY.encode())
    assert reply_with(backend, send(backend, "lock", fresh, "backend/r")).json()["ok"]
    memory = link.commands.replay
    assert memory is not None and memory.path.parent == data and len(memory) == 2
    clock.advance(200)  # both commands are stale now, but a restart with a longer window could take them again
    memory.prune()
    assert len(memory) == 2
    clock.advance(COMMAND_MAX_AGE_CAP_S)  # no window takes them on this clock, but one stepped back would:
    memory.prune()
    assert len(memory) == 2  # kept until a newer command's ts is past them too (attacker39)
    later = sign_command("lock", {"ts": now(clock), "bay": "B1", "reason": "fuel car", "operator": "alice"},
                         KEY.encode())
    assert reply_with(backend, send(backend, "lock", later, "backend/r")).json()["ok"]
    assert len(memory) == 1  # the two older ones went as it was remembered


def test_a_lock_older_than_the_bays_last_word_is_refused_out_of_order(setup):
    """Two signed commands for one bay delivered out of their order (a captured ``lock`` that never reached the
    device, published after the backend's ``unlock``; or a broker's redelivery): both ran and the bay ended raised,
    against the backend's last word. A ``lock`` older than the newest lock command acted on for its bay is refused;
    an older ``unlock`` still lowers (any doubt leaves the arm down)."""
    make, backend, control, clock = setup
    make(hmac_secret_env="EDGE_TEST_HMAC")
    key = KEY.encode()
    lock = sign_command("lock", {"ts": now(clock), "bay": "B2", "reason": "fuel car", "operator": "alice"}, key)
    unlock = sign_command("unlock", {"ts": now(clock, 5), "bay": "B2", "reason": "paid", "operator": "alice"}, key)
    other = sign_command("lock", {"ts": now(clock, 1), "bay": "B1", "reason": "fuel car", "operator": "alice"}, key)
    clock.advance(5)
    assert reply_with(backend, send(backend, "unlock", unlock, "backend/r")).json()["ok"]
    r = reply_with(backend, send(backend, "lock", lock, "backend/r")).json()
    assert (r["ok"], r["code"]) == (False, "out_of_order")
    assert reply_with(backend, send(backend, "lock", other, "backend/r")).json()["ok"]  # another bay's word
    # later than the unlock (one of its very ts is refused too: which came first cannot be told, test_lock_order)
    later = sign_command("lock", {"ts": now(clock, 1), "bay": "B2", "reason": "fuel car", "operator": "bob"}, key)
    older = sign_command("unlock", {"ts": now(clock, -2), "bay": "B2", "reason": "paid", "operator": "bob"}, key)
    assert reply_with(backend, send(backend, "lock", later, "backend/r")).json()["ok"]
    assert reply_with(backend, send(backend, "unlock", older, "backend/r")).json()["ok"]  # down: never refused
    assert [c[:2] for c in control.calls] == [("unlock", "B2"), ("lock", "B1"), ("lock", "B2"), ("unlock", "B2")]


def test_a_signed_command_replayed_after_a_restart_with_a_longer_window_is_refused(setup, tmp_path):
    """An operator who widens command_max_age_s (a backend whose clock is minutes off) and restarts must not
    reopen the window for every command captured meanwhile: the memory had let them go after the old 60 s."""
    make, backend, control, clock = setup
    data = tmp_path / "same-data-dir"
    body = sign_command("unlock", {"ts": now(clock), "bay": "B2", "reason": "NEV", "operator": "alice"},
                        KEY.encode())
    link = make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC", command_max_age_s=60)
    assert reply_with(backend, send(backend, "unlock", body, "backend/r")).json()["ok"]
    link.stop()
    clock.advance(120)  # past the old window, inside the new one
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC", command_max_age_s=300)
    assert reply_with(backend, send(backend, "unlock", body, "backend/r")).json()["code"] == "replay"
    assert control.calls == [("unlock", "B2", "NEV", "alice")]


def test_a_corrupt_replay_memory_is_moved_aside_and_a_fresh_one_works(tmp_path, caplog):
    from edge_agent.events.replay import ReplayMemory

    clock = FakeClock()
    path = tmp_path / "command-replay.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    memory = ReplayMemory(path, clock)
    assert [p.name.startswith("command-replay.sqlite.corrupt-") for p in tmp_path.iterdir()].count(True) == 1
    assert "moved to" in caplog.text
    assert memory.remember("ab" * 32, clock.now(), 60) and not memory.remember("ab" * 32, clock.now(), 60)
    memory.close()


def test_a_signed_command_replayed_after_a_restart_that_found_the_memory_damaged_is_refused(setup, tmp_path):
    """A damaged replay memory was set aside and a fresh, empty one started: every signed command captured in the
    freshness window before the restart was accepted again (2,000 of 2,000 remembered ones, probe chaos39), and the
    bays' last words were forgotten too. Now the fresh memory notes when it started: a signed command stamped up to
    one window after that may have been received already and is refused; a later one runs."""
    make, backend, control, clock = setup
    data = tmp_path / "same-data-dir"
    body = sign_command("lock", {"ts": now(clock), "bay": "B2", "reason": "fuel car", "operator": "alice"},
                        KEY.encode())
    link = make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC")
    assert reply_with(backend, send(backend, "lock", body, "backend/r")).json()["ok"]
    link.stop()
    with open(data / "command-replay.sqlite", "r+b") as f:  # a card's bad block on the file's first page
        f.write(b"\xff" * 100)
    clock.advance(30)  # still within the 60 s freshness window
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC")
    assert reply_with(backend, send(backend, "lock", body, "backend/r")).json()["code"] == "replay"
    assert control.calls == [("lock", "B2", "fuel car", "alice")]
    clock.advance(61)
    fresh = sign_command("lock", {"ts": now(clock), "bay": "B1", "reason": "fuel car", "operator": "alice"},
                         KEY.encode())
    assert reply_with(backend, send(backend, "lock", fresh, "backend/r")).json()["ok"]


def test_a_replay_memory_started_afresh_on_a_clock_ahead_refuses_no_longer_once_ntp_steps_it_back(tmp_path):
    """The fresh memory's start is noted on the wall clock: noted 40 days ahead (an RTC before NTP), every signed
    command would be refused for 40 days after NTP stepped the clock back. A clock found behind the note moves the
    note back to it: what was captured before the damage is still refused for one window."""
    from edge_agent.events.replay import ReplayMemory

    clock = FakeClock()
    path = tmp_path / "command-replay.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    clock.step_wall(40 * 86400)
    ReplayMemory(path, clock).close()
    clock.step_wall(-40 * 86400)  # NTP
    clock.set_synced(True)  # NTP set it: a clock not known to be set never moves the note back (review101)
    memory = ReplayMemory(path, clock)
    try:
        until = memory.forgot_until(60)
        assert until is not None and clock.now() < until <= clock.now() + timedelta(seconds=60)
    finally:
        memory.close()
    clock.advance(61)
    again = ReplayMemory(path, clock)  # kept: the next start does not go back to the clock ahead
    try:
        assert again.forgot_until(60) < clock.now()
    finally:
        again.close()


def test_an_unlock_after_a_start_that_found_the_replay_memory_damaged_still_lowers_the_arm(setup, tmp_path):
    """The fresh memory's window refused every signed command, an operator's new ``unlock`` too, for one
    ``command_max_age_s`` (up to an hour) after the start, "send it again with a later ts" and refused again: the
    only remote way to lower an arm hung on the memory (review84). A lowering is never refused for doubt (DOWN is
    always allowed, as ``out_of_order``); a ``lock`` in that window still is, and a lowering is still run once."""
    make, backend, control, clock = setup
    data = tmp_path / "same-data-dir"
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC", command_max_age_s=300).stop()
    (data / "command-replay.sqlite").write_bytes(b"this is not a database" * 100)
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC", command_max_age_s=300)
    clock.advance(5)
    body = sign_command("unlock", {"ts": now(clock), "bay": "B2", "reason": "visitor", "operator": "alice"},
                        KEY.encode())
    assert reply_with(backend, send(backend, "unlock", body, "backend/r")).json()["ok"]
    assert reply_with(backend, send(backend, "unlock", body, "backend/r")).json()["code"] == "replay"
    raise_it = sign_command("lock", {"ts": now(clock), "bay": "B1", "reason": "fuel car", "operator": "alice"},
                            KEY.encode())
    assert reply_with(backend, send(backend, "lock", raise_it, "backend/r")).json()["code"] == "replay"
    assert control.calls == [("unlock", "B2", "visitor", "alice")]


def test_a_lock_reset_in_the_fresh_memory_window_is_refused_while_an_unlock_lowers(setup, tmp_path):
    """``lock-reset`` is not a lowering for the fresh memory's doubt: it ends a latched fault, after which the policy
    may raise the arm again (once the bay is seen free), so a captured reset replayed in the window would undo an
    operator's fault without an operator's word (maintenance off alike). What a reset lowers, an ``unlock`` or
    ``maintenance`` on lowers too, and those stay exempt: DOWN never waits on the memory."""
    make, backend, control, clock = setup
    data = tmp_path / "same-data-dir"
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC", command_max_age_s=300).stop()
    (data / "command-replay.sqlite").write_bytes(b"this is not a database" * 100)
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC", command_max_age_s=300)
    clock.advance(5)
    reset = sign_command("lock-reset", {"ts": now(clock), "bay": "B2", "operator": "alice"}, KEY.encode())
    r = reply_with(backend, send(backend, "lock-reset", reset, "backend/r")).json()
    assert (r["ok"], r["code"]) == (False, "replay")
    down = sign_command("unlock", {"ts": now(clock), "bay": "B2", "reason": "fault", "operator": "alice"},
                        KEY.encode())
    assert reply_with(backend, send(backend, "unlock", down, "backend/r")).json()["ok"]
    assert control.calls == [("unlock", "B2", "fault", "alice")]
    # how an operator clears the fault then (docs/mqtt.md): the reset sent again past the time its refusal named
    clock.advance(300)
    again = sign_command("lock-reset", {"ts": now(clock), "bay": "B2", "operator": "alice"}, KEY.encode())
    assert reply_with(backend, send(backend, "lock-reset", again, "backend/r")).json()["ok"]
    assert control.calls[-1] == ("reset_lock", "B2", "alice")


def test_a_replay_memory_started_afresh_on_a_clock_behind_refuses_what_came_before_once_ntp_steps_it_on(tmp_path):
    """A Pi has no RTC: after the power cut that damaged the memory it boots on the time saved before the cut, behind.
    The fresh start noted on that clock put the refused window in the past once NTP stepped the clock on, and a
    signed command captured just before the cut, still fresh, was taken again (review84). Within the run that
    started afresh, the start is the wall clock now less the time elapsed since (monotonic), whichever way NTP
    stepped."""
    from edge_agent.events.replay import ReplayMemory

    clock = FakeClock()
    captured = clock.now() - timedelta(seconds=40)  # signed and received just before the cut
    path = tmp_path / "command-replay.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    clock.step_wall(-1800)  # booted on the time fake-hwclock saved half an hour before the cut
    memory = ReplayMemory(path, clock)
    try:
        clock.advance(20)
        clock.step_wall(1800)  # NTP
        until = memory.forgot_until(300)
        assert until is not None and captured <= until, (captured, until)
        assert until <= clock.now() + timedelta(seconds=300)
    finally:
        memory.close()


def test_a_restart_on_a_clock_behind_before_ntp_does_not_pull_the_fresh_memory_s_window_back(setup, tmp_path):
    """Damage, a restart, then another restart on a clock behind (a Pi with no RTC boots on the time fake-hwclock
    saved, before NTP): a captured command stamped on that clock, refused, pulled the fresh start back to it for good
    (a later run's start is the earlier of its own start and the note), and once NTP stepped the clock on, a ``lock``
    captured just before the damage was taken again (review96). A clock the kernel says is not synchronised moves
    the start only later, never back."""
    make, backend, control, clock = setup
    data = tmp_path / "same-data-dir"
    captured = sign_command("lock", {"ts": now(clock), "bay": "B2", "reason": "fuel car", "operator": "alice"},
                            KEY.encode())
    link = make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC")
    assert reply_with(backend, send(backend, "lock", captured, "backend/r")).json()["ok"]
    link.stop()
    (data / "command-replay.sqlite").write_bytes(b"this is not a database" * 100)
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC").stop()  # started afresh, noted now; then a power cut
    clock.step_wall(-1800)  # the next boot, on the time saved half an hour before the cut
    clock.set_synced(False)
    make(data_dir=data, hmac_secret_env="EDGE_TEST_HMAC")
    older = sign_command("lock", {"ts": now(clock), "bay": "B1", "reason": "fuel car", "operator": "alice"},
                         KEY.encode())  # captured half an hour before, fresh on this clock
    assert reply_with(backend, send(backend, "lock", older, "backend/r")).json()["code"] == "replay"
    clock.step_wall(1800)  # NTP
    clock.set_synced(True)
    clock.advance(10)
    r = reply_with(backend, send(backend, "lock", captured, "backend/r")).json()
    assert r["code"] == "replay", r
    assert control.calls == [("lock", "B2", "fuel car", "alice")]


def test_a_restart_on_a_clock_behind_does_not_pull_the_window_back_where_the_kernel_cannot_be_asked(tmp_path):
    """review96's pull-back, on a clock whose state nobody can tell: the shipped unit's ``ProtectClock=yes`` refuses
    the ``adjtimex`` read, and with chrony (no timesyncd flag file) ``synced()`` is None for good. Only a clock the
    kernel said was *not* set was kept from pulling the start back: a restart on fake-hwclock's time, a captured
    command stamped then, and once NTP stepped the clock on a ``lock`` captured just before the damage ran again
    (review101). A clock not known to be set moves the start only later."""
    from edge_agent.events.command_handler import Command, CommandHandler
    from edge_agent.events.replay import ReplayMemory
    from edge_agent.events.topics import Topics

    clock = FakeClock()  # synced() None throughout: chrony under ProtectClock=yes
    assert clock.synced() is None
    captured = sign_command("lock", {"ts": iso(clock.now() - timedelta(seconds=40)), "bay": "B2", "reason": "fuel car",
                                     "operator": "alice"}, KEY.encode())  # received just before the cut
    path = tmp_path / "command-replay.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    ReplayMemory(path, clock).close()  # started afresh on a set clock, noted; then a power cut
    clock.step_wall(-1800)  # the next boot, on the time fake-hwclock saved half an hour before the cut
    memory, control = ReplayMemory(path, clock), RecordingControl()
    try:
        handler = CommandHandler(control, Topics(PREFIX), "dev1", clock, 300.0, KEY.encode(), memory)
        older = sign_command("lock", {"ts": iso(clock.now()), "bay": "B1", "reason": "fuel car", "operator": "alice"},
                             KEY.encode())  # captured half an hour before the cut, fresh on this clock
        assert handler.handle(Command("lock", json.dumps(older).encode())).body["code"] == "replay"
        clock.step_wall(1800)  # NTP
        clock.advance(10)
        reply = handler.handle(Command("lock", json.dumps(captured).encode())).body
        assert reply["code"] == "replay", reply
        assert control.calls == []
    finally:
        memory.close()

def test_a_time_server_that_steps_the_clock_back_over_a_restart_does_not_pull_a_set_clock_s_note_back(tmp_path):
    """The fresh start noted on a set clock; a spoofed time server (the kernel says synchronised) steps it back a day,
    the agent restarts, and a captured command stamped then pulled the note back to that day for good (a later run
    took the earlier of its own start and the note); stepped on again, a ``lock`` captured just before the damage ran
    again (review101). A note taken on a set clock is never moved back; only one taken on a clock not known to be
    set is told again, by a set clock (an RTC ahead, corrected by NTP)."""
    from edge_agent.events.command_handler import Command, CommandHandler
    from edge_agent.events.replay import ReplayMemory
    from edge_agent.events.topics import Topics

    clock = FakeClock(synced=True)
    captured = sign_command("lock", {"ts": iso(clock.now() - timedelta(seconds=40)), "bay": "B2", "reason": "fuel car",
                                     "operator": "alice"}, KEY.encode())  # received just before the cut
    path = tmp_path / "command-replay.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    ReplayMemory(path, clock).close()  # started afresh on a set clock, noted
    clock.step_wall(-86400)  # the spoofed server's day-old time; then a restart
    memory, control = ReplayMemory(path, clock), RecordingControl()
    try:
        handler = CommandHandler(control, Topics(PREFIX), "dev1", clock, 300.0, KEY.encode(), memory)
        older = sign_command("lock", {"ts": iso(clock.now()), "bay": "B1", "reason": "fuel car", "operator": "alice"},
                             KEY.encode())  # captured a day before, fresh on this clock
        assert handler.handle(Command("lock", json.dumps(older).encode())).body["code"] == "replay"
        clock.step_wall(86400 - 30)  # the server steps it to just after the captured lock
        reply = handler.handle(Command("lock", json.dumps(captured).encode())).body
        assert reply["code"] == "replay", reply
        assert control.calls == []
    finally:
        memory.close()

def test_a_fresh_start_noted_before_ntp_is_told_again_by_the_next_run_on_a_set_clock(tmp_path):
    """The damage found at a boot on fake-hwclock's time, half an hour behind: the start noted on that clock, NTP
    stepped it on, and the agent restarted before any signed command came. The next run took the earlier of its own
    start and the note, the note: the window lay half an hour in the past, and a ``lock`` captured just before the
    cut, still fresh (``command_max_age_s`` 300), ran again (review96, "damage, a clock step, a restart"). A note
    taken on a clock the kernel said was not set is told again on the first clock that is: its run's start then."""
    from edge_agent.events.command_handler import Command, CommandHandler
    from edge_agent.events.replay import ReplayMemory
    from edge_agent.events.topics import Topics

    clock = FakeClock(synced=True)
    captured = sign_command("lock", {"ts": iso(clock.now() - timedelta(seconds=40)), "bay": "B2", "reason": "fuel car",
                                     "operator": "alice"}, KEY.encode())  # received just before the cut
    path = tmp_path / "command-replay.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    clock.step_wall(-1800)
    clock.set_synced(False)
    ReplayMemory(path, clock).close()  # started afresh on that clock; no command came
    clock.advance(20)
    clock.step_wall(1800)  # NTP
    clock.set_synced(True)
    clock.advance(30)  # a restart (a config change, the watchdog)
    memory, control = ReplayMemory(path, clock), RecordingControl()
    try:
        handler = CommandHandler(control, Topics(PREFIX), "dev1", clock, 300.0, KEY.encode(), memory)
        clock.advance(5)
        assert handler.handle(Command("lock", json.dumps(captured).encode())).body["code"] == "replay"
        assert control.calls == []
    finally:
        memory.close()
    clock.advance(301)
    again = ReplayMemory(path, clock)  # told on a set clock, kept: the next start's own is not taken again
    try:
        until = again.forgot_until(300)
        assert until is not None and until < clock.now(), (until, clock.now())
    finally:
        again.close()


def test_a_device_whose_clock_is_never_set_keeps_its_fresh_start_note_over_restarts(tmp_path):
    """No time server at all (the kernel says "not set" for good): the note is the only word, and each restart's own
    start taken instead would refuse one window of signed commands after every restart, for ever."""
    from edge_agent.events.replay import ReplayMemory

    clock = FakeClock(synced=False)
    path = tmp_path / "command-replay.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    ReplayMemory(path, clock).close()
    clock.advance(86400)
    memory = ReplayMemory(path, clock)
    try:
        clock.advance(5)
        until = memory.forgot_until(60)
        assert until is not None and until < clock.now() - timedelta(hours=23), (until, clock.now())
    finally:
        memory.close()


def test_a_fresh_start_noted_on_an_rtc_ahead_refuses_no_command_at_a_later_boot_once_ntp_synced(tmp_path):
    """Noted 40 days ahead at a boot where no command came, the start was pulled back to the wall clock at the first
    command of a later boot, after NTP, whenever that came: that command and every one for a window after it were
    refused as possible replays of a damage days old (review84). That run's own start (the wall clock less its
    uptime) is as late as the damage can have been."""
    from edge_agent.events.replay import ReplayMemory

    clock = FakeClock()
    path = tmp_path / "command-replay.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    clock.step_wall(40 * 86400)  # the RTC, before NTP
    ReplayMemory(path, clock).close()
    clock.step_wall(-40 * 86400)  # NTP
    clock.set_synced(True)  # NTP set it: a clock not known to be set never moves the note back (review101)
    clock.advance(86400)  # a day later the device boots again; its clock synced, a command comes after 10 minutes
    memory = ReplayMemory(path, clock)
    try:
        clock.advance(600)
        until = memory.forgot_until(60)
        assert until is not None and until < clock.now() - timedelta(seconds=500), (until, clock.now())
    finally:
        memory.close()


def test_a_damaged_page_of_the_replay_memory_is_found_at_the_start_not_left_to_refuse_every_command(tmp_path):
    """Only an unreadable first page was caught at the open: a damaged page among the remembered commands was not,
    and once its entries expired every ``remember`` (which deletes expired ones) failed — every signed command
    refused as ``internal_error``, at every start, for good (probe chaos39). The open checks the file now."""
    from edge_agent.events.replay import ReplayMemory

    clock = FakeClock()
    path = tmp_path / "command-replay.sqlite"
    memory = ReplayMemory(path, clock)
    for i in range(2000):
        memory.remember(f"{i:064x}", clock.now(), 60)
    memory.close()
    damage_pages(path, "seen")
    clock.advance(COMMAND_MAX_AGE_CAP_S + 120)  # every entry expired: the next remember deletes them
    memory = ReplayMemory(path, clock)
    try:
        assert memory.remember("ab" * 32, clock.now(), 60)
    finally:
        memory.close()
    assert [p.name.startswith("command-replay.sqlite.corrupt-") for p in tmp_path.iterdir()].count(True) == 1


# -- retained commands, parser limits -------------------------------------------------------------------
def test_a_retained_command_is_refused_not_run_at_connect(setup):
    """The broker hands a command published with retain to every (re)connect: maintenance switched on long ago
    would be switched on again at each start. The probe saw it run at start-up in unsigned mode."""
    make, backend, control, clock = setup
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData = f"{PREFIX}/reply/retained", b"kept"
    body = json.dumps({"ts": now(clock), "bay": "B1", "on": True, "operator": "ops"}).encode()
    backend.c.publish(f"{PREFIX}/cmd/maintenance", body, qos=1, retain=True, properties=props).wait_for_publish(5)
    try:
        make()
        reply = wait_until(lambda: (backend.on(f"{PREFIX}/reply/retained") or [None])[0], what="the reply")
        assert reply.json()["code"] == "retained" and reply.json()["ok"] is False
        assert control.calls == []
        corr, _ = send(backend, "maintenance", {"ts": now(clock), "bay": "B1", "on": True, "operator": "ops"}, f"{PREFIX}/reply")
        assert reply_with(backend, (corr, f"{PREFIX}/cmd/maintenance")).json()["ok"] is True  # sent live: runs
        assert [c[0] for c in control.calls] == ["set_maintenance"]
    finally:
        backend.c.publish(f"{PREFIX}/cmd/maintenance", b"", qos=1, retain=True).wait_for_publish(5)  # clear it


def test_a_command_published_with_retain_is_refused_also_when_it_arrives_live(setup):
    """Without retain-as-published the broker clears the flag on a live delivery: the command ran once, then
    was refused at every reconnect. docs/mqtt.md promises it never runs."""
    make, backend, control, clock = setup
    make()
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData = f"{PREFIX}/reply/live-retained", b"live"
    body = json.dumps({"ts": now(clock), "bay": "B1", "on": True, "operator": "ops"}).encode()
    backend.c.publish(f"{PREFIX}/cmd/maintenance", body, qos=1, retain=True, properties=props).wait_for_publish(5)
    try:
        reply = wait_until(lambda: (backend.on(f"{PREFIX}/reply/live-retained") or [None])[0], what="the reply")
        assert reply.json()["code"] == "retained" and reply.json()["ok"] is False
        assert control.calls == []
    finally:
        backend.c.publish(f"{PREFIX}/cmd/maintenance", b"", qos=1, retain=True).wait_for_publish(5)  # clear it


def test_clearing_a_retained_command_gets_no_reply(setup):
    """An empty retained message is how MQTT deletes a retained one; mosquitto forwards the clear to the
    agent, which answered it with a malformed_json reply nobody asked for."""
    make, backend, control, clock = setup
    make()
    backend.c.publish(f"{PREFIX}/cmd/maintenance", b"", qos=1, retain=True).wait_for_publish(5)
    backend.c.publish(f"{PREFIX}/cmd/lock", b"", qos=1).wait_for_publish(5)  # the same without the flag (3.1.1)
    corr, _ = send(backend, "maintenance", {"ts": now(clock), "bay": "B1", "on": True, "operator": "ops"},
                   f"{PREFIX}/reply/after")
    assert reply_with(backend, (corr, f"{PREFIX}/cmd/maintenance")).json()["ok"] is True  # commands run in order
    assert backend.on(f"{PREFIX}/reply") == []
    assert [c[0] for c in control.calls] == ["set_maintenance"]


@pytest.mark.parametrize("raw, why", [(b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
                                      (b'{"ts": ' + b"9" * 5000 + b"}", "a number has too many digits")])
def test_parser_limits_are_malformed_json_not_internal_errors(setup, caplog, raw, why):
    make, backend, control, clock = setup
    make()
    with caplog.at_level(logging.WARNING):
        msg = reply_with(backend, send(backend, "lock", None, f"{PREFIX}/reply", raw=raw))
    assert (msg.json()["code"], msg.json()["message"]) == ("malformed_json", f"payload is not JSON: {why}")
    assert "Traceback" not in caplog.text and not any(r.levelno >= logging.ERROR for r in caplog.records)
    assert control.calls == []


def test_a_full_disk_never_wipes_the_replay_memory(tmp_path, monkeypatch):
    """Moving it aside on a disk error would forget the signatures seen: a replay would pass."""
    from edge_agent.events.replay import ReplayMemory

    clock = FakeClock()
    path = tmp_path / "command-replay.sqlite"
    memory = ReplayMemory(path, clock)
    assert memory.remember("cd" * 32, clock.now(), 60)
    memory.close()
    err = sqlite3.OperationalError("database or disk is full")
    err.sqlite_errorcode = 13  # SQLITE_FULL
    real = ReplayMemory._open
    monkeypatch.setattr(ReplayMemory, "_open", lambda self: (_ for _ in ()).throw(err))
    with pytest.raises(sqlite3.OperationalError):
        ReplayMemory(path, clock)
    monkeypatch.setattr(ReplayMemory, "_open", real)
    again = ReplayMemory(path, clock)
    assert not again.remember("cd" * 32, clock.now(), 60)  # still remembered: the replay is refused
    again.close()
    assert [p.name for p in tmp_path.iterdir() if "corrupt" in p.name] == []


# -- signing-key rotation ---------------------------------------------------------------------------
def test_a_key_rollout_accepts_the_new_and_the_previous_key_and_each_command_once(setup, tmp_path):
    """A fleet's backends do not switch keys at the same instant: the key file's second line is the previous
    key, accepted until it is removed. A command is accepted once whichever key signed it."""
    make, backend, control, clock = setup
    key_file = tmp_path / "hmac.key"
    key_file.write_text("n3w-key\nold-key\n")
    make(hmac_secret_file=str(key_file))
    body = {"ts": now(clock), "bay": "B2", "reason": "NEV", "operator": "alice"}
    assert reply_with(backend, send(backend, "unlock", sign_command("unlock", body, b"old-key"), "backend/r")
                      ).json()["ok"]
    # the same command signed again with the new key (a backend retrying after its own switch): not run twice
    r = reply_with(backend, send(backend, "unlock", sign_command("unlock", body, b"n3w-key"), "backend/r")).json()
    assert r["code"] == "replay"
    fresh = {**body, "bay": "B1", "ts": now(clock, 1)}
    assert reply_with(backend, send(backend, "unlock", sign_command("unlock", fresh, b"n3w-key"), "backend/r")
                      ).json()["ok"]
    assert reply_with(backend, send(backend, "unlock", sign_command("unlock", {**fresh, "bay": "B4"}, b"other"),
                                    "backend/r")).json()["code"] == "bad_signature"
    assert control.calls == [("unlock", "B2", "NEV", "alice"), ("unlock", "B1", "NEV", "alice")]


def test_a_reload_applies_a_rotated_key_file(setup, tmp_path, caplog):
    """The key file rewritten and the config reloaded (SIGHUP, reload-config): the reload said "config reloaded",
    nothing to restart, and the old key ran on: every command the backend signed with the new one was
    bad_signature until someone restarted the agent."""
    make, backend, control, clock = setup
    key_file = tmp_path / "hmac.key"
    key_file.write_text("old-key\n")
    link = make(hmac_secret_file=str(key_file))
    body = {"ts": now(clock), "bay": "B2", "reason": "NEV", "operator": "alice"}
    key_file.write_text("n3w-key\n")
    link.config_applied(link._cfg, [])  # what every applied reload calls
    assert reply_with(backend, send(backend, "unlock", sign_command("unlock", body, b"n3w-key"), "backend/r")
                      ).json()["ok"]
    old = {**body, "bay": "B1"}
    assert reply_with(backend, send(backend, "unlock", sign_command("unlock", old, b"old-key"), "backend/r")
                      ).json()["code"] == "bad_signature"
    key_file.write_text("")  # a reload that cannot read the keys keeps the running ones, and says so
    with caplog.at_level(logging.ERROR):
        link.config_applied(link._cfg, [])
    assert "mqtt.hmac_secret_file" in caplog.text and "keeps the keys it had" in caplog.text
    again = {**body, "bay": "B4"}
    assert reply_with(backend, send(backend, "unlock", sign_command("unlock", again, b"n3w-key"), "backend/r")
                      ).json()["ok"]


def test_a_command_the_previous_version_took_is_still_refused_after_the_upgrade(tmp_path):
    """The memory keeps what was signed now (one command, whichever key); the version before kept the signature.
    A command it took just before the upgrade's restart is still refused within its window."""
    from edge_agent.events.command_handler import Command, CommandHandler
    from edge_agent.events.replay import ReplayMemory
    from edge_agent.events.topics import Topics

    clock, control = FakeClock(), RecordingControl()
    body = sign_command("unlock", {"ts": now(clock), "bay": "B2", "reason": "NEV", "operator": "alice"},
                        KEY.encode())
    before = ReplayMemory(tmp_path / "command-replay.sqlite", clock)
    assert before.remember(body["sig"], clock.now(), 60)  # as the previous version wrote it
    before.close()
    clock.advance(20)
    memory = ReplayMemory(tmp_path / "command-replay.sqlite", clock)
    handler = CommandHandler(control, Topics(PREFIX), "dev1", clock, 60.0, KEY.encode(), memory)
    reply = handler.handle(Command("unlock", json.dumps(body).encode()))
    assert reply.body["code"] == "replay" and control.calls == []
    memory.close()
