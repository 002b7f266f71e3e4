"""End to end: the assembled agent (real detector and recogniser on the rendered demo, fake clock)
pushes the fuel car's violation to a loopback webhook from its notify thread, and nothing else."""

from __future__ import annotations

import json

from edge_agent.clock import FakeClock
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import ScriptedSource, demo_story, run_scripted, scene_config
from tests.notify.receiver import Receiver


def test_assembled_agent_pushes_the_demo_violation(tmp_path, models_dir, monkeypatch):
    monkeypatch.setenv("HOOK_KEY", "k" * 32)
    receiver = Receiver().start()
    try:
        clock = FakeClock()
        cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)},
                           web={"public_url": "https://review.example"},
                           notify={"sinks": [{"name": "backend", "kind": "webhook", "url": receiver.url,
                                              "secret_env": "HOOK_KEY"}]})
        source = ScriptedSource(demo_story(5.0), clock)
        a = assemble(cfg, clock=clock, source=source)
        a.agent.start()
        try:
            run_scripted(a.agent.step, clock, source.duration, 5.0)
            assert receiver.wait_for(1)
            health = a.agent.health_figures().extra["notify"]["backend"]
            assert health["error"] is None and health["delivered"] + health["waiting"] == 1
            assert health["dead"] == 0 and health["last_dead"] is None
        finally:
            a.agent.stop()
        (doc,) = [json.loads(r.body) for r in receiver.unique.values()]
        assert doc["event"]["type"] == "violation_started" and doc["event"]["data"]["plate"] == "京A12345"
        assert doc["link"] == f"https://review.example/violations/by-event/{doc['event']['event_id']}"
        assert (tmp_path / "data" / "notify-backend.sqlite").is_file()
    finally:
        receiver.stop()
