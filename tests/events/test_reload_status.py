"""The retained status says which config runs: a reload republishes it (it kept the start's
``config_hash`` until the next reconnect, so a backend could not tell that a reload had happened)."""

from __future__ import annotations

import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.config.load import load_config
from edge_agent.events.schemas import first_error
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold
from tests.events.helpers import Subscriber, config_dict

pytestmark = pytest.mark.broker

STATUS = "edge/s1/dev1/status"


def _started(broker, tmp_path):  # noqa: ANN001, ANN202
    """An agent on a fake clock with MQTT to ``broker``, started, and a subscriber to its topics."""
    data = config_dict(broker.url(), tmp_path / "data")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    clock = FakeClock()
    agent = assemble(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock),
                     review=False).agent
    sub = Subscriber(broker.port, "edge/#").start()
    agent.start()
    return data, path, clock, agent, sub


def test_a_reload_republishes_the_status_with_the_config_that_runs_and_what_waits(broker, tmp_path):
    data, path, _, agent, sub = _started(broker, tmp_path)
    try:
        first = sub.wait_for(STATUS, lambda m: m.json()["state"] == "online").json()
        assert "restart_needed" not in first

        data["timers"] = {"overstay_s": 600}
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        res = agent.reload_config()
        assert res.ok and res.data["config_hash"] != first["config_hash"]
        now = sub.wait_for(STATUS, lambda m: m.json()["config_hash"] == res.data["config_hash"]).json()
        assert now["state"] == "online" and "restart_needed" not in now

        data["mqtt"]["heartbeat_s"] = 30
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        res = agent.reload_config()
        later = sub.wait_for(STATUS, lambda m: m.json()["config_hash"] == res.data["config_hash"]).json()
        assert later["restart_needed"] == ["mqtt"] and first_error("status.json", later) is None
    finally:
        agent.stop()
        sub.stop()


def test_a_clock_step_moves_the_retained_start_with_it(broker, tmp_path):
    """A Pi without a real-time clock starts on its last shutdown's time; NTP then steps the clock. The retained
    status kept the boot clock's ``started`` for the whole run (a backend saw a device started days ago, or in
    1970): it moves with the step, and is published again."""
    from datetime import datetime, timedelta

    _, _, clock, agent, sub = _started(broker, tmp_path)
    try:
        first = sub.wait_for(STATUS, lambda m: m.json()["state"] == "online").json()
        booted = datetime.fromisoformat(first["started"])
        agent.step()  # the clock watch's first reading
        clock.advance(30)
        clock.step_wall(3 * 86400)  # NTP: the boot clock was three days behind
        agent.step()
        moved = sub.wait_for(STATUS, lambda m: m.json()["started"] != first["started"]).json()
        assert datetime.fromisoformat(moved["started"]) - booted == timedelta(days=3)
        assert moved["state"] == "online" and first_error("status.json", moved) is None
    finally:
        agent.stop()
        sub.stop()
