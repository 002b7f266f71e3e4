"""Lock commands run in the order they were sent (review62).

A lock command of a lock command's size went first; a bigger payload on those topics waited with the rest. But a
bigger one can still be a lock command the agent acts on (JSON allows any whitespace: 68 KiB of it around a valid
``unlock``), and a small ``lock`` sent after it overtook it: the agent ran ``lock`` then ``unlock``, the reverse of
what the backend sent, and the bay ended down when its last word was up. Such a payload is now refused
``too_large`` at once (no lock command is over 18.3 KB), nothing done, so none waits out of its order; and none
holds the lock commands behind it either. A simulated lock's ``sim/…`` commands are the lock's inputs: a ``lock``
sent after ``sim/presence`` ran before it, on the presence before."""

from __future__ import annotations

import json

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.events.command_handler import Command, CommandHandler
from edge_agent.events.command_queue import URGENT_MAX_BYTES, CommandQueue, lock_kind_too_big
from edge_agent.events.topics import Topics
from tests.events.helpers import RecordingControl, wait_until
from tests.events.test_command_hardening import now, reply_with, send, setup  # noqa: F401 - setup: the fixture
from tests.events.test_command_queue_order import SlowSnapshots


def _cmd(name: str, payload: bytes = b"{}", namespace: str = "cmd") -> Command:
    return Command(name=name, payload=payload, namespace=namespace)


def _drain(q: CommandQueue) -> list[tuple[str, str]]:
    out = []
    while (cmd := q.get(timeout=0)) is not None:
        out.append((cmd.namespace, cmd.name))
    return out


def _padded(body: dict, size: int) -> bytes:
    """``body`` as JSON with insignificant whitespace up to ``size`` bytes: the same command to any JSON parser."""
    text = json.dumps(body).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}"


def test_a_whitespace_padded_lock_command_is_still_a_lock_command():
    """Why a big payload on a lock topic cannot simply wait with the rest: the agent acts on it like on any other."""
    clock, control = FakeClock(), RecordingControl()
    handler = CommandHandler(control, Topics("edge/s1/dev1"), "dev1", clock, 60.0)
    body = {"ts": iso(clock.now()), "bay": "B1", "reason": "r", "operator": "op"}
    payload = _padded(body, URGENT_MAX_BYTES + 4096)
    reply = handler.handle(_cmd("unlock", payload))
    assert reply.acted and reply.body["ok"] and control.calls == [("unlock", "B1", "r", "op")]
    assert lock_kind_too_big(_cmd("unlock", payload)) and not lock_kind_too_big(_cmd("snapshot", payload))


def test_no_lock_command_waits_out_of_its_order_in_the_queue():
    q = CommandQueue(1000, 32 * 2**20, {"snapshot": 16})
    big = b"{" + b" " * (URGENT_MAX_BYTES + 10) + b"}"
    assert q.offer(_cmd("snapshot"))
    assert not q.offer(_cmd("unlock", big))  # never queued (the link answers it too_large)
    for cmd in (_cmd("snapshot"), _cmd("lock"), _cmd("maintenance")):
        assert q.offer(cmd)
    assert _drain(q) == [("cmd", "lock"), ("cmd", "maintenance"), ("cmd", "snapshot"), ("cmd", "snapshot")]


def test_a_simulated_lock_s_inputs_keep_their_order_with_its_commands():
    q = CommandQueue(1000, 32 * 2**20, {"snapshot": 16})
    for cmd in (_cmd("snapshot"), _cmd("presence", namespace="sim"), _cmd("lock"), _cmd("stall", namespace="sim")):
        assert q.offer(cmd)
    order = _drain(q)
    assert order.index(("sim", "presence")) < order.index(("cmd", "lock")) < order.index(("sim", "stall"))


@pytest.mark.broker
def test_over_mosquitto_a_later_lock_never_runs_before_a_padded_unlock(setup):  # noqa: F811
    """End to end: the command thread busy with a photo, a valid ``unlock`` padded past any lock command's size,
    then a ``lock`` of the same bay. The agent ran the ``lock`` first, then the ``unlock``: the bay ended down. Now
    the padded one is refused ``too_large`` at once, unread and undone, and the ``lock`` runs."""
    make, backend, _, clock = setup
    control = SlowSnapshots()
    link = make(ctl=control)
    try:
        send(backend, "snapshot", {"ts": now(clock), "bay": "B1"}, "backend/q")
        wait_until(control.entered.is_set, what="the first snapshot to run")
        body = {"ts": now(clock), "bay": "B2", "reason": "let the NEV in", "operator": "op"}
        unlock = send(backend, "unlock", None, "backend/q", raw=_padded(body, URGENT_MAX_BYTES + 4096))
        lock = send(
            backend, "lock", {"ts": now(clock), "bay": "B2", "reason": "reserve", "operator": "op"}, "backend/q"
        )
        assert reply_with(backend, unlock).json()["code"] == "too_large"  # while the thread is still held
        wait_until(lambda: link._cmd_q.qsize() == 1, what="the lock queued")
        control.release.set()
        assert reply_with(backend, lock).json()["ok"]
        assert [c[0] for c in control.calls if c[0] != "snapshot"] == ["lock"]
        assert link.commands_too_large == 1
    finally:
        control.release.set()


def test_a_flood_of_sim_commands_never_makes_a_lock_command_busy():
    """``sim/…`` share the lock commands' lane (their order kept), not its room: anyone who may publish on ``sim/+``
    sent 100 of them (unknown names too: refused only when run) and the next ``unlock`` was told ``busy`` — the lane's
    room is there so that a flood of other commands never does that (review66)."""
    q = CommandQueue(maxsize=10, max_bytes=1 << 20, caps={})
    offered = [q.offer(_cmd("junk", namespace="sim")) for _ in range(200)]
    assert any(offered) and not all(offered)  # the sim commands have room, bounded
    assert q.offer(_cmd("unlock")), "a flood of sim commands made the unlock busy"
    assert _drain(q)[-1] == ("cmd", "unlock")  # behind the sim commands sent before it, in order
    assert q.offer(_cmd("junk", namespace="sim"))  # room again once they ran
