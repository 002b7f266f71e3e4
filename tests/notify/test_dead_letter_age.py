"""Dead letters name a plate, a place and a time: none is kept longer than the evidence (``evidence.max_age_days``),
deleted by the agent's hourly pass. Before, only ``notify.max_rows`` bounded them: a quiet site kept a refused
violation's plate for years."""

from __future__ import annotations

import json
import sqlite3

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.notify.dead_letters import DeadLetters
from edge_agent.notify.service import NotifyService
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import ScriptedSource, demo_story
from tests.notify.helpers import config, violation

DAY = 86400.0


def _sink(name: str = "backend") -> dict[str, object]:
    return {"name": name, "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret_env": "HOOK_KEY",
            "events": ["violation_started"]}


def _bury(dead: DeadLetters, clock: FakeClock, plate: str = "京A12345") -> None:
    body = violation(clock, plate=plate).to_dict()
    assert dead.add("backend", json.dumps(body).encode(), status=422, reason="HTTP 422", tries=3,
                    at=clock.now().isoformat(timespec="milliseconds"))


def test_dead_letters_older_than_the_evidence_go_in_every_file_of_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_KEY", "k" * 32)
    clock = FakeClock()
    cfg = config(tmp_path, [_sink()])
    svc = NotifyService(cfg, EventBus(), clock)
    (d,) = svc.open()
    gone = DeadLetters(tmp_path / "data" / "notify-dead" / "removed-sink.sqlite", 100)  # a sink since removed
    _bury(gone, clock, "京A11111")
    gone.close()
    _bury(d.dead, clock)
    clock.advance(10 * DAY)
    _bury(d.dead, clock, "京A22222")  # ten days younger
    try:
        clock.advance(19 * DAY)
        assert svc.expire_dead(30) == 0 and d.dead.count() == 2  # 29 days: all kept
        clock.advance(2 * DAY)
        assert svc.expire_dead(30) == 2  # 31 days: the first one, and the removed sink's
        assert d.dead.count() == 1 and svc.status()["backend"]["last_dead"] is not None
        clock.advance(10 * DAY)
        assert svc.expire_dead(30) == 1 and d.dead.count() == 0 and svc.status()["backend"]["last_dead"] is None
        left = DeadLetters(tmp_path / "data" / "notify-dead" / "removed-sink.sqlite", 100)
        assert left.count() == 0
        left.close()
    finally:
        svc.stop()


def test_a_wall_clock_stepped_forward_does_not_take_a_letter_of_minutes_ago(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_KEY", "k" * 32)
    clock = FakeClock()
    svc = NotifyService(config(tmp_path, [_sink()]), EventBus(), clock)
    (d,) = svc.open()
    try:
        _bury(d.dead, clock)
        clock.step_wall(40 * DAY)  # a wrong clock set right by NTP, or set wrong
        assert svc.expire_dead(30) == 0 and d.dead.count() == 1
        clock.advance(31 * DAY)  # the month has really passed
        assert svc.expire_dead(30) == 1 and d.dead.count() == 0
    finally:
        svc.stop()


def test_the_agents_hourly_pass_gives_the_dead_letters_the_evidence_age(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_KEY", "k" * 32)
    clock = FakeClock()
    cfg = config(tmp_path, [_sink()], enabled=False)
    cfg.evidence.max_age_days = 7
    a = assemble(cfg, clock=clock, source=ScriptedSource(demo_story(5.0), clock))
    path = tmp_path / "data" / "notify-dead" / "backend.sqlite"
    dead = DeadLetters(path, 100)
    _bury(dead, clock)
    dead.close()

    def rows() -> int:
        db = sqlite3.connect(path)
        try:
            return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        finally:
            db.close()

    a.agent._maybe_hour()  # the first turn
    assert rows() == 1
    clock.advance(8 * DAY)
    a.agent._maybe_hour()
    assert rows() == 0
