"""A signed command replayed after the device's clock was stepped back to its ``ts`` (attacker39).

Freshness is judged on the device's wall clock, and the replay memory forgets a command an hour (the longest window)
after it. Whoever can step that clock (unauthenticated NTP on the site network, the time server the docs point a Pi
at) set it back to a captured command's ``ts`` and the command was fresh again and unknown to the memory: a captured
``set-lists`` put old lists back, a ``lock-reset`` ended a fault. A command's ``ts`` is the backend's clock, not the
device's: one stamped before the newest the device accepted, by more than any window, was taken only because the
device's clock went back."""

from __future__ import annotations

import json
from datetime import timedelta

from edge_agent.clock import FakeClock, iso
from edge_agent.config.mqtt import COMMAND_MAX_AGE_CAP_S
from edge_agent.events.command_handler import Command, CommandHandler, sign_command
from edge_agent.events.replay import ReplayMemory
from edge_agent.events.topics import Topics
from tests.events.helpers import RecordingControl

KEY = b"the-site-backend-key-0123456789"


def _signed(clock: FakeClock, name: str, **fields: object) -> bytes:
    return json.dumps(sign_command(name, {"ts": iso(clock.now()), **fields}, KEY)).encode()


def _handler(path, clock: FakeClock) -> tuple[CommandHandler, RecordingControl]:  # noqa: ANN001
    control = RecordingControl()
    return CommandHandler(control, Topics("edge/s1/d1"), "d1", clock, 60.0, KEY, ReplayMemory(path, clock)), control


def test_a_captured_command_is_not_fresh_again_when_the_clock_is_stepped_back_to_it(tmp_path):
    clock = FakeClock()
    handler, control = _handler(tmp_path / "replay.sqlite", clock)
    captured = _signed(clock, "set-lists", allow=["粤B12345"], id="old")
    assert handler.handle(Command("set-lists", captured)).body["code"] == "ok"
    clock.advance(2 * COMMAND_MAX_AGE_CAP_S)  # two hours on: the backend's next command (the memory forgets the old)
    assert handler.handle(Command("set-lists", _signed(clock, "set-lists", allow=[], id="new"))).body["code"] == "ok"
    calls = len(control.calls)
    clock.step_wall(-2 * COMMAND_MAX_AGE_CAP_S + 5)  # a spoofed time server sets the device 5 s after the old ts
    reply = handler.handle(Command("set-lists", captured)).body
    assert reply["code"] == "replay" and "clock" in reply["message"], reply
    assert len(control.calls) == calls  # the old lists were not put back
    # over a restart too: the newest ts accepted is kept with the replay memory
    again, control2 = _handler(tmp_path / "replay.sqlite", clock)
    assert again.handle(Command("set-lists", captured)).body["code"] == "replay"
    assert control2.calls == []


def test_a_lowering_still_runs_and_newer_commands_run_after_the_clock_came_back(tmp_path):
    """DOWN is always allowed: an ``unlock`` stamped before the newest accepted ts still runs (at worst a captured
    unlock lowers an arm); and the backend's own commands, stamped on its clock, run on a device whose clock was
    stepped (they are newer than anything it accepted)."""
    clock = FakeClock()
    handler, control = _handler(tmp_path / "replay.sqlite", clock)
    old_unlock = _signed(clock, "unlock", bay="B1", reason="r", operator="o")
    clock.advance(2 * COMMAND_MAX_AGE_CAP_S)
    assert handler.handle(Command("snapshot", _signed(clock, "snapshot"))).body["code"] == "ok"
    clock.step_wall(-2 * COMMAND_MAX_AGE_CAP_S + 5)
    assert handler.handle(Command("unlock", old_unlock)).body["code"] == "ok"
    clock.step_wall(2 * COMMAND_MAX_AGE_CAP_S - 5)  # NTP puts it right
    assert handler.handle(Command("snapshot", _signed(clock, "snapshot", id="x"))).body["code"] == "ok"
    assert len(control.calls) == 3


def test_a_clock_stepped_forward_within_a_wide_window_does_not_prune_what_a_step_back_makes_fresh(tmp_path):
    """With ``command_max_age_s`` at its cap (1 h), a device clock stepped 55 min ahead still takes the backend's
    commands, and each one pruned the memory by that clock: entries of commands sent minutes before were gone, and
    once the clock was stepped back they were fresh and unknown. Entries now go by the newest ``ts`` remembered too."""
    clock = FakeClock()
    control = RecordingControl()
    handler = CommandHandler(
        control,
        Topics("edge/s1/d1"),
        "d1",
        clock,
        COMMAND_MAX_AGE_CAP_S,
        KEY,
        ReplayMemory(tmp_path / "replay.sqlite", clock),
    )
    captured = _signed(clock, "set-lists", allow=["粤B12345"], id="old")
    assert handler.handle(Command("set-lists", captured)).body["code"] == "ok"
    clock.advance(360)  # six minutes on, the backend's clock and ours alike
    newer = _signed(clock, "set-lists", allow=[], id="new")
    clock.step_wall(55 * 60)  # ours stepped 55 min ahead: the newer command is still within the window
    assert handler.handle(Command("set-lists", newer)).body["code"] == "ok"
    clock.step_wall(-55 * 60)
    assert handler.handle(Command("set-lists", captured)).body["code"] == "replay"
    assert len(control.calls) == 2


def test_one_command_stamped_a_year_ahead_does_not_lock_the_device_out_once_its_clock_is_right(tmp_path):
    """A site time server a year ahead (spoofed, or a GPS-week rollover) that the device and a backend followed for a
    moment, or a captured future-stamped command replayed to a device stepped forward: ONE such command was accepted
    and every later non-lowering command was refused ``replay`` until the real time reached it (a year; "send it again
    with a later ts" no backend could meet, and no way back but deleting the file). Only what the memory forgot is
    doubtful: commands stamped no later than the entries it pruned; the backend's next command is none of those,
    while the captured one from before the step still is."""
    clock = FakeClock()
    handler, control = _handler(tmp_path / "replay.sqlite", clock)
    captured = _signed(clock, "set-lists", allow=["粤B12345"], id="old")
    assert handler.handle(Command("set-lists", captured)).body["code"] == "ok"
    clock.advance(10)
    year = 365 * 86400
    clock.step_wall(year)
    assert handler.handle(Command("snapshot", _signed(clock, "snapshot", id="ahead"))).body["code"] == "ok"
    clock.step_wall(-year + 20)  # the time put right: 30 s after the captured command
    for name, fields in (("snapshot", {"id": "next"}), ("lock-reset", {"bay": "B1", "reason": "r", "operator": "o"})):
        reply = handler.handle(Command(name, _signed(clock, name, **fields))).body
        assert reply["code"] == "ok", reply
    assert handler.handle(Command("set-lists", captured)).body["code"] == "replay"  # its entry went at the step
    again, _ = _handler(tmp_path / "replay.sqlite", clock)  # over a restart too
    assert again.handle(Command("set-lists", captured)).body["code"] == "replay"
    clock.advance(5)
    assert again.handle(Command("snapshot", _signed(clock, "snapshot", id="later"))).body["code"] == "ok"


def test_two_backends_far_apart_within_the_window_are_both_taken(tmp_path):
    """With ``command_max_age_s`` at its cap, backends 40 min ahead of and behind the device are both fresh; the one
    behind was refused ``replay`` (80 min older than the newest ts), though the device's clock never went back and
    nothing it pruned could be that command. What was pruned expired before the device's own clock now, so a command
    fresh on a clock that never went back is never refused for it."""
    clock = FakeClock()
    control = RecordingControl()
    memory = ReplayMemory(tmp_path / "replay.sqlite", clock)
    handler = CommandHandler(control, Topics("edge/s1/d1"), "d1", clock, COMMAND_MAX_AGE_CAP_S, KEY, memory)
    for i in range(8):  # 4 h of commands, one each half hour from each backend
        for skew in (40 * 60, -40 * 60):
            body = sign_command("snapshot", {"ts": iso(clock.now() + timedelta(seconds=skew)), "id": f"{i}{skew}"}, KEY)
            reply = handler.handle(Command("snapshot", json.dumps(body).encode())).body
            assert reply["code"] == "ok", (i, skew, reply)
        clock.advance(30 * 60)
    assert len(memory) < 16  # pruned all the same
