"""Refused commands in the agent's log: said, but not one warning per message for as long as someone sends them."""

from __future__ import annotations

import json
import logging
import re

from edge_agent.clock import FakeClock, iso
from edge_agent.events import command_handler
from edge_agent.events.command_handler import Command, CommandHandler
from edge_agent.events.replay import ReplayMemory
from edge_agent.events.topics import Topics
from tests.events.helpers import RecordingControl


def test_a_backend_retrying_a_refused_command_every_second_for_an_hour(tmp_path, caplog):
    """Commands signed with the wrong key (a backend with an old key, or anyone allowed to publish to the topic):
    each refusal was a warning, 3,600 an hour. Now a burst, then one a minute, each naming how many it left out."""
    clock = FakeClock()
    handler = CommandHandler(RecordingControl(), Topics("edge/s1/dev1"), "dev1", clock, 60.0, b"the-right-key",
                             ReplayMemory(tmp_path / "replay.sqlite", clock))
    codes = set()
    with caplog.at_level(logging.DEBUG, logger="edge_agent.events.command_handler"):
        for i in range(3600):
            body = {"ts": iso(clock.now()), "id": f"r{i}", "bay": "B1", "reason": "fuel car", "operator": "ops",
                    "sig": "0" * 64}
            reply = handler.handle(Command("lock", json.dumps(body).encode(), "backend/r"))
            codes.add(reply.body["code"])
            clock.advance(1.0)
    assert codes == {"bad_signature"}  # every sender is still told, in its reply
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    burst, per_min = command_handler.REFUSAL_LOG_BURST, command_handler.REFUSAL_LOG_EVERY_S
    assert burst + 3600 // per_min - 2 <= len(said) <= burst + 3600 // per_min, len(said)  # ~80, was 3,600
    assert all("refused: bad_signature" in m for m in said)
    assert "; 40 refused command(s) before this one were not logged" in said[burst], said[burst]
    logged = len(said) + sum(int(m.split("; ")[1].split()[0]) for m in said if "were not logged" in m)
    assert logged + 59 >= 3600  # every refusal is logged or counted (the last minute's wait for the next line)


def test_the_left_out_count_names_the_budget_not_a_rate_the_sender_never_reached(caplog):
    """soak31: a backend asking for an unknown ``status`` every 20 s (3 refusals a minute) spent the burst in ~10
    minutes, and each line after said "not logged (over 20 a minute)", which told the operator of a flood that never
    was. The line names the budget as it is: a burst, then one a minute."""
    clock = FakeClock()
    handler = CommandHandler(RecordingControl(), Topics("edge/s1/dev1"), "dev1", clock, 60.0)
    with caplog.at_level(logging.DEBUG, logger="edge_agent.events.command_handler"):
        for i in range(3 * 30):  # 30 minutes
            handler.handle(Command("status", json.dumps({"ts": iso(clock.now()), "id": f"s{i}"}).encode(), "b/r"))
            clock.advance(20.0)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    counted = [m for m in said if "were not logged" in m]
    assert counted, said[-3:]  # 90 refusals at 3 a minute outrun a budget of 20 + one a minute
    burst = command_handler.REFUSAL_LOG_BURST
    for m in counted:
        assert "over" not in m.split("were not logged")[1], m  # no rate the sender was said to exceed
        assert f"(the log keeps a burst of {burst}, then one every minute: see -v)" in m, m
    logged = len(said) + sum(int(re.search(r"; (\d+) refused command", m).group(1)) for m in counted)
    assert 90 - 3 <= logged <= 90  # every refusal logged or counted (but the last minute's, awaiting the next line)


def test_a_backend_retrying_a_lock_the_agent_refuses_logs_a_burst_not_a_line_each(tmp_path, caplog):
    """probe flood: a valid ``lock`` the interlock refuses (``occupancy_unsure`` while the bay is watched free, a car
    in it) passed every check, so its outcome was an info line each, outside the refusals' budget: a backend retrying
    it 50 times a second wrote 1,971 lines (383 KB) in 40 s of a real run. The reply still answers every one."""
    clock = FakeClock()
    handler = CommandHandler(RecordingControl(occupied={"B1"}), Topics("edge/s1/dev1"), "dev1", clock, 60.0)
    replies = []
    with caplog.at_level(logging.DEBUG, logger="edge_agent.events.command_handler"):
        for i in range(3600):
            body = {"ts": iso(clock.now()), "id": f"r{i}", "bay": "B1", "reason": "night", "operator": "ops"}
            replies.append(handler.handle(Command("lock", json.dumps(body).encode(), "backend/r")).body)
            clock.advance(1.0)
    assert all((r["ok"], r["code"]) == (False, "refused") for r in replies)  # every sender told, in its reply
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    burst, per_min = command_handler.REFUSAL_LOG_BURST, command_handler.REFUSAL_LOG_EVERY_S
    assert len(said) <= burst + 3600 // per_min, len(said)  # ~80, was 3,600
    assert all("command 'lock': refused vehicle present" in m for m in said), said[:3]
    counted = sum(int(re.search(r"; (\d+) command", m).group(1)) for m in said if "were not logged" in m)
    assert len(said) + counted + 59 >= 3600  # every one logged or counted (the last minute's awaits the next line)


def test_a_lock_acted_on_now_and_then_is_logged_each_time(caplog):
    """The budget is for floods: a backend's few commands an hour are each an info line, as before."""
    clock = FakeClock()
    handler = CommandHandler(RecordingControl(), Topics("edge/s1/dev1"), "dev1", clock, 60.0)
    with caplog.at_level(logging.INFO, logger="edge_agent.events.command_handler"):
        for i in range(30):
            body = {"ts": iso(clock.now()), "id": f"r{i}", "bay": "B1", "reason": "night", "operator": "ops"}
            handler.handle(Command("lock", json.dumps(body).encode(), "backend/r"))
            clock.advance(120.0)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert said == ["command 'lock': ok raised"] * 30, said[:3]
