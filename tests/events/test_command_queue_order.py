"""Over a real mosquitto: a lock command never waits behind a flood of commands that are cheap to send and dear to
serve (a snapshot writes a photo: 1,000 queued made an ``unlock`` wait 24.5 s in a real run), and the counts of
commands and replies a flood cost reach the backend in the heartbeat, not only the log."""

from __future__ import annotations

import json
import threading

import pytest

from edge_agent.events.mqtt_link import DEAR_WAITING, LISTS_EVERY_S, SNAPSHOTS_WAITING
from tests.events.helpers import RecordingControl, wait_until
from tests.events.test_command_hardening import (  # noqa: F401 - setup: the fixture
    PREFIX,
    BlockingControl,
    now,
    reply_with,
    send,
    setup,
)

pytestmark = pytest.mark.broker


class SlowSnapshots(RecordingControl):
    """The first snapshot holds the command thread until released (a photo being written)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def snapshot(self, bay_id: str | None) -> str:
        self.entered.set()
        assert self.release.wait(20)
        return super().snapshot(bay_id)


def test_a_lock_command_runs_before_the_snapshots_waiting_ahead_of_it(setup):  # noqa: F811
    make, backend, _, clock = setup
    control = SlowSnapshots()
    link = make(ctl=control)
    try:
        snap = {"ts": now(clock), "bay": "B1"}
        first = send(backend, "snapshot", snap, "backend/q")
        wait_until(control.entered.is_set, what="the first snapshot to run")
        flood = [send(backend, "snapshot", snap, "backend/q") for _ in range(40)]
        unlock = send(backend, "unlock", {"ts": now(clock), "bay": "B2", "reason": "r", "operator": "op"}, "backend/q")
        wait_until(lambda: link._cmd_q.qsize() + link.commands_busy == 41, what="the flood and the unlock in")
        control.release.set()
        assert reply_with(backend, unlock).json()["ok"]
        assert reply_with(backend, first).json()["ok"]
        codes = [reply_with(backend, s).json()["code"] for s in flood]
        # the unlock ran second, straight after the snapshot that held the thread when it came
        assert [c[0] for c in control.calls][:2] == ["snapshot", "unlock"]
        # the rest of the flood beyond the few snapshots allowed to wait was told busy, nothing stored
        assert codes.count("ok") == SNAPSHOTS_WAITING and codes.count("busy") == 40 - SNAPSHOTS_WAITING
        assert [c[0] for c in control.calls].count("snapshot") == 1 + SNAPSHOTS_WAITING
        assert link.commands_busy == 40 - SNAPSHOTS_WAITING
    finally:
        control.release.set()


def test_a_flood_of_snapshots_leaves_room_for_the_other_commands(setup):  # noqa: F811
    """A charger status waits behind at most SNAPSHOTS_WAITING snapshots, and is never told busy by them."""
    make, backend, _, clock = setup
    control = SlowSnapshots()
    link = make(ctl=control, command_queue=20)
    try:
        snap = {"ts": now(clock), "bay": "B1"}
        send(backend, "snapshot", snap, "backend/q")
        wait_until(control.entered.is_set, what="the first snapshot to run")
        for _ in range(30):
            send(backend, "snapshot", snap, "backend/q")
        charger = send(backend, "charger-status", {"ts": now(clock), "bay": "B1", "status": "charging"}, "backend/q")
        wait_until(lambda: link._cmd_q.qsize() + link.commands_busy == 31, what="the flood and the charger in")
        control.release.set()
        assert reply_with(backend, charger).json()["ok"]
        order = [c[0] for c in control.calls]
        assert order.index("charger_status") == 1 + SNAPSHOTS_WAITING
    finally:
        control.release.set()


@pytest.mark.parametrize("name, body", [("reload-config", {}), ("set-lists", {"deny": ["粤B12345"]})])
def test_floods_of_the_other_dear_commands_are_bounded_too(setup, name, body):  # noqa: F811
    """A reload loads models (seconds) and a set-lists rewrites overrides.yaml: only a few of each wait at once."""
    make, backend, _, clock = setup
    control = BlockingControl()
    link = make(ctl=control)
    try:
        send(backend, "charger-status", {"ts": now(clock), "bay": "B1", "status": "charging"}, "backend/q")
        wait_until(control.entered.is_set, what="the first command to run")
        flood = [send(backend, name, {**body, "ts": now(clock)}, "backend/q") for _ in range(12)]
        wait_until(lambda: link._cmd_q.qsize() + link.commands_busy == 12, what="the flood in")
        cap = DEAR_WAITING[name]
        assert (link._cmd_q.qsize(), link.commands_busy) == (cap, 12 - cap)
        control.release.set()
        reply_with(backend, flood[0])
        clock.advance(LISTS_EVERY_S)  # set-lists after the first written are held that long, then written once
        codes = [reply_with(backend, s).json()["code"] for s in flood]
        assert codes.count("busy") == 12 - cap
    finally:
        control.release.set()


def test_a_lock_flood_with_a_big_payload_does_not_jump_the_queue(setup):  # noqa: F811
    """Only a payload the size of a lock command goes first: 1 MB of anything on cmd/lock is refused ``too_large``
    unread, at once, so the fast lane never carries the parser's cost ahead of the rest — and it does not wait with
    the rest either, where a valid (whitespace-padded) one ran after the lock commands sent behind it (review62).
    A lock command sent after it still goes first."""
    make, backend, _, clock = setup
    control = SlowSnapshots()
    link = make(ctl=control)
    try:
        send(backend, "snapshot", {"ts": now(clock), "bay": "B1"}, "backend/q")
        wait_until(control.entered.is_set, what="the first snapshot to run")
        charger = send(backend, "charger-status", {"ts": now(clock), "bay": "B1", "status": "charging"}, "backend/q")
        big = send(backend, "lock", None, "backend/q", raw=b'{"pad": "' + b"x" * 2**20 + b'"}')
        unlock = send(backend, "unlock", {"ts": now(clock), "bay": "B2", "reason": "r", "operator": "op"}, "backend/q")
        assert reply_with(backend, big).json()["code"] == "too_large"  # while the thread is still held
        wait_until(lambda: link._cmd_q.qsize() == 2, what="the charger and the unlock queued")
        control.release.set()
        assert reply_with(backend, charger).json()["ok"] and reply_with(backend, unlock).json()["ok"]
        assert [c[0] for c in control.calls] == ["snapshot", "unlock", "charger_status"]
        assert link.commands_too_large == 1
    finally:
        control.release.set()


def test_the_heartbeat_carries_the_flood_counts(setup):  # noqa: F811
    """``commands_busy``, ``commands_too_large`` and ``replies_dropped`` were in the log only: a backend could not
    tell a device under a command flood from one whose commands were lost on the way."""
    from edge_agent.events.schemas import first_error

    make, backend, _, clock = setup
    link = make()
    link.publish_health()
    quiet = wait_until(lambda: list(backend.on(f"{PREFIX}/health")) or None, what="a heartbeat")[-1].json()
    assert not {"commands_busy", "replies_dropped", "commands_too_large"} & set(quiet.get("extra", {}))
    link.commands_busy, link.commands_too_large, link.replies_dropped = 7, 2, 1
    before = len(backend.on(f"{PREFIX}/health"))
    link.publish_health()
    doc = wait_until(lambda: backend.on(f"{PREFIX}/health")[before:] or None, what="the next heartbeat")[0].json()
    assert {k: doc["extra"][k] for k in ("commands_busy", "commands_too_large", "replies_dropped")} == {
        "commands_busy": 7,
        "commands_too_large": 2,
        "replies_dropped": 1,
    }
    assert first_error("health.json", doc) is None


def test_a_lock_command_s_reply_is_not_crowded_out_by_a_flood_s_replies(setup, broker):  # noqa: F811
    """The flood's ``busy`` replies are made as fast as the messages are read: in a real run 1,000 snapshots filled
    the 500 replies that may wait, and the ``unlock`` behind them ran ("already down") with its reply dropped, so
    the backend never learnt it. A lock command the agent acted on has room of its own."""
    import os
    import signal

    from edge_agent.events.command_handler import Command, Reply
    from edge_agent.events.mqtt_link import REPLY_BACKLOG

    make, backend, control, clock = setup
    link = make()
    assert broker._proc is not None
    os.kill(broker._proc.pid, signal.SIGSTOP)  # a broker the flood outpaces: nothing acknowledged
    try:
        for _ in range(REPLY_BACKLOG + 10):
            link._send_reply(Reply(f"{PREFIX}/reply/flood", {"ok": False, "code": "busy"}))
        dropped = link.replies_dropped
        body = {"ts": now(clock), "bay": "B2", "reason": "r", "operator": "op"}
        link._run(Command("unlock", json.dumps(body).encode(), response_topic="backend/unlock"))
        garbage = Command("unlock", b'{"bay": 1}', response_topic="backend/unlock")  # refused unread: no room
        link._run(garbage)
        assert link.replies_dropped == dropped + 1
    finally:
        os.kill(broker._proc.pid, signal.SIGCONT)
    r = wait_until(lambda: list(backend.on("backend/unlock")) or None, timeout=30, what="the unlock's reply")
    assert r[0].json()["ok"] and r[0].json()["command"] == "unlock"
    assert ("unlock", "B2", "r", "op") in control.calls
