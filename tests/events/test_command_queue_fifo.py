"""The command queue's lanes keep the order the lock commands were sent in (review62).

A lock command of a lock command's size goes first; a bigger payload on those topics waits with the rest. But a
bigger one can still be a lock command the agent acts on (JSON allows any whitespace: 70 KiB of it around a valid
``unlock``), and a small ``lock`` sent after it overtook it: the agent ran ``lock`` then ``unlock``, the reverse of
what the backend sent, and the bay ended down when its last word was up. A simulated lock's ``sim/…`` commands
are the lock's inputs: a ``lock`` sent after ``sim/presence`` ran before it, on the presence before."""

from __future__ import annotations

import json

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.events.command_handler import Command, CommandHandler
from edge_agent.events.command_queue import URGENT_MAX_BYTES, CommandQueue
from edge_agent.events.topics import Topics
from tests.events.helpers import RecordingControl, wait_until
from tests.events.test_command_hardening import now, reply_with, send, setup  # noqa: F401 - setup: the fixture
from tests.events.test_command_queue_order import SlowSnapshots


def _cmd(name: str, payload: bytes = b"{}", namespace: str = "cmd") -> Command:
    return Command(name=name, payload=payload, namespace=namespace)


def _drain(q: CommandQueue) -> list[tuple[str, str, int]]:
    out = []
    while (cmd := q.get(timeout=0)) is not None:
        out.append((cmd.namespace, cmd.name, len(cmd.payload)))
    return out


def _padded(body: dict, size: int) -> bytes:
    """``body`` as JSON with insignificant whitespace up to ``size`` bytes: the same command to any JSON parser."""
    text = json.dumps(body).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}"


def test_a_whitespace_padded_lock_command_is_still_a_lock_command():
    """Why the order of the big ones matters: the agent acts on it like on any other."""
    clock, control = FakeClock(), RecordingControl()
    handler = CommandHandler(control, Topics("edge/s1/dev1"), "dev1", clock, 60.0)
    body = {"ts": iso(clock.now()), "bay": "B1", "reason": "r", "operator": "op"}
    payload = _padded(body, URGENT_MAX_BYTES + 4096)
    assert len(payload) > URGENT_MAX_BYTES
    reply = handler.handle(_cmd("unlock", payload))
    assert reply.acted and reply.body["ok"] and control.calls == [("unlock", "B1", "r", "op")]


def test_lock_commands_run_in_the_order_sent_whatever_their_size():
    q = CommandQueue(1000, 32 * 2**20, {"snapshot": 16})
    big = b"{" + b" " * (URGENT_MAX_BYTES + 10) + b"}"
    for cmd in (_cmd("snapshot"), _cmd("unlock", big), _cmd("snapshot"), _cmd("lock"), _cmd("maintenance")):
        assert q.offer(cmd)
    order = [name for _, name, _ in _drain(q)]
    assert [n for n in order if n != "snapshot"] == ["unlock", "lock", "maintenance"]
    # the big one still does not jump the queue: it waits behind the snapshot sent before it
    assert order[0] == "snapshot"


def test_lock_commands_after_a_big_one_keep_their_order_once_it_has_run():
    """The small ones that waited behind a big one are not overtaken by a small one sent after the big one ran."""
    q = CommandQueue(1000, 32 * 2**20, {"snapshot": 16})
    big = b"{" + b" " * (URGENT_MAX_BYTES + 10) + b"}"
    assert q.offer(_cmd("snapshot")) and q.offer(_cmd("unlock", big)) and q.offer(_cmd("lock", b'{"n": 1}'))
    assert q.get(timeout=0).name == "snapshot"
    assert q.get(timeout=0).name == "unlock"
    assert q.offer(_cmd("unlock", b'{"n": 2}'))
    assert [(n, s) for _, n, s in _drain(q)] == [("lock", 8), ("unlock", 8)]
    # once none waits behind, a lock command goes first again
    assert q.offer(_cmd("snapshot")) and q.offer(_cmd("lock"))
    assert [n for _, n, _ in _drain(q)] == ["lock", "snapshot"]


def test_a_simulated_lock_s_inputs_keep_their_order_with_its_commands():
    q = CommandQueue(1000, 32 * 2**20, {"snapshot": 16})
    for cmd in (_cmd("snapshot"), _cmd("presence", namespace="sim"), _cmd("lock"), _cmd("stall", namespace="sim")):
        assert q.offer(cmd)
    order = [(ns, n) for ns, n, _ in _drain(q)]
    assert order.index(("sim", "presence")) < order.index(("cmd", "lock")) < order.index(("sim", "stall"))


@pytest.mark.broker
def test_over_mosquitto_the_later_lock_does_not_overtake_a_padded_unlock(setup):  # noqa: F811
    """End to end: the command thread busy with a photo, a valid ``unlock`` padded past the lane's size, then a
    ``lock`` of the same bay. The agent ran the ``lock`` first, then the ``unlock``: the bay ended down."""
    make, backend, _, clock = setup
    control = SlowSnapshots()
    link = make(ctl=control)
    try:
        send(backend, "snapshot", {"ts": now(clock), "bay": "B1"}, "backend/q")
        wait_until(control.entered.is_set, what="the first snapshot to run")
        body = {"ts": now(clock), "bay": "B2", "reason": "let the NEV in", "operator": "op"}
        unlock = send(backend, "unlock", None, "backend/q", raw=_padded(body, URGENT_MAX_BYTES + 4096))
        lock = send(
            backend, "lock", {"ts": now(clock), "bay": "B2", "reason": "reserve again", "operator": "op"}, "backend/q"
        )
        wait_until(lambda: link._cmd_q.qsize() == 2, what="both queued")
        control.release.set()
        assert reply_with(backend, unlock).json()["ok"] and reply_with(backend, lock).json()["ok"]
        assert [c[0] for c in control.calls if c[0] != "snapshot"] == ["unlock", "lock"]
    finally:
        control.release.set()
