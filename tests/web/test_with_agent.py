"""The page on what the real agent records: the demo scenario (real detector and recogniser on
rendered frames, fake clock) with the violation log on the bus, then the page and its images."""

from __future__ import annotations

import re
import warnings

import pytest

from edge_agent.evidence.violations import ViolationFilter
from edge_agent.web.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_violation_from_the_real_bay_story(recorded_agent):
    agent, log, _ = recorded_agent
    page = log.query(ViolationFilter())
    assert page.total == 1  # the demo: an NEV parks and leaves, a fuel car violates and leaves
    v = page.items[0]
    assert (v.bay_id, v.plate, v.colour, v.nev, v.reason) == ("B", "京A12345", "blue", False, "fuel_vehicle")
    assert v.nev_reason and v.ended_at
    types = [e.type for e in log.timeline(v.visit_id)]
    assert types == ["vehicle_arrived", "vehicle_identified", "violation_started", "violation_ended",
                     "vehicle_departed"]
    assert agent.evidence.image_path(v.evidence_id, "frame").stat().st_size > 10_000
    assert agent.evidence.image_path(v.evidence_id, "crop").exists()


def test_page_shows_it_and_the_agent_takes_installer_snapshots(recorded_agent):
    agent, log, clock = recorded_agent
    app = create_app(agent.cfg, agent.evidence, log, agent, agent.lists, agent.bus, clock, None)
    c = TestClient(app)
    tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": "admin", "password": "agent-password", "csrf": tok})
    v = log.query(ViolationFilter()).items[0]
    html = c.get(f"/violations/{v.id}").text
    assert "京A12345" in html and "燃油车占用" in html and "车辆驶入" in html
    for which in ("frame", "crop"):
        r = c.get(f"/evidence/{v.evidence_id}/{which}.jpg")
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    html = c.get("/installer").text  # Agent.snapshot stores the latest frame as evidence
    snap = re.search(r'id="snap" src="(/evidence/[^"]+)"', html).group(1)
    assert c.get(snap).content[:2] == b"\xff\xd8"
    assert "disabled" in re.search(r'<button[^>]*id="save"[^>]*>', html).group(0)  # no config file to write


def test_recorder_and_page_inside_the_assembled_agent(tmp_path, models_dir):
    """The assembly builds the violation recorder and the page as two components: the page reads the
    recorder's log, and stopping closes both."""
    import sqlite3

    import httpx

    from edge_agent.clock import FakeClock
    from edge_agent.events.types import Event
    from edge_agent.runtime.assemble import assemble
    from edge_agent.sim.scenario import ScriptedSource, demo_story, scene_config

    clock = FakeClock()
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)},
                       web={"enabled": True, "port": 0, "users_file": str(tmp_path / "u"),
                            "session_secret_file": str(tmp_path / "k")})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(demo_story(5.0), clock))
    assert parts.recorder is not None and parts.web is not None
    assert parts.agent.components.index(parts.recorder) < parts.agent.components.index(parts.web)
    # the looks the page coalesces in memory are written from the agent's minute (``web/views.py``)
    assert parts.web.app.state.ctx.views.flush_due in parts.agent.every_minute
    parts.start()
    try:
        assert httpx.get(parts.web.url + "/login").status_code == 200
        assert httpx.get(parts.web.url + "/violations", follow_redirects=False).status_code == 401
        parts.agent.bus.publish(Event.make("violation_started", clock, bay_id="A", visit_id="v1",
                                           data={"reason": "fuel_vehicle", "plate": "粤B12345"}))
        assert parts.recorder.log.get(1).plate == "粤B12345"
    finally:
        parts.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(parts.web.url + "/login")
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        parts.recorder.log.get(1)
