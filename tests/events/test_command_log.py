"""Refused commands in the agent's log: said, but not one warning per message for as long as someone sends them."""

from __future__ import annotations

import json
import logging

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
