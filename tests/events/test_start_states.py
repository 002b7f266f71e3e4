"""Every bay's retained state is published when the agent starts, not only when the bay first changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.config.load import load_config
from edge_agent.events.types import BayState
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, run_scripted
from tests.events.helpers import Subscriber, wait_until

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
PREFIX = "edge/demo-site/demo-cam"


def test_each_bay_state_is_published_at_start_and_replaces_the_last_runs(broker, tmp_path):
    """The bay monitor told its first states before the MQTT link listened: a bay nothing happened to had no
    retained state (Home Assistant's entities for it read unknown, a backend had no row), and one a previous run
    left in ``violation`` read so until the bay next changed, hours later. At start a bay reads ``unknown``
    (nothing has measured it yet: never ``free`` without evidence), then ``free`` once the classifier sees it
    empty."""
    data = yaml.safe_load((REPO / "config" / "demo.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(tmp_path / "data")
    data["mqtt"] = {"enabled": True, "brokers": [broker.url()]}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    bays = [b["id"] for b in data["bays"]]
    stale = BayState("B", "violation", "2026-01-01T08:00:00.000+08:00", visit_id="v-1", plate="京A12345")
    old = Subscriber(broker.port, "unused/none").start()  # what the previous run left retained
    old.c.publish(f"{PREFIX}/bays/B/state", json.dumps(stale.to_dict()), qos=1, retain=True).wait_for_publish(5)
    old.stop()
    clock = FakeClock()
    agent = assemble(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock), review=False).agent
    sub = Subscriber(broker.port, f"{PREFIX}/bays/+/state").start()

    def states() -> dict[str, str]:  # the newest state this run published per bay
        return {m.topic.split("/")[4]: m.json()["state"] for m in sub.all() if not m.retain}

    try:
        agent.start()  # no frame analysed yet: nothing says a bay is empty
        wait_until(lambda: states() == dict.fromkeys(bays, "unknown"), what="a state per bay")
        run_scripted(agent.step, clock, 10, 5)  # the classifier sees the empty bays
        wait_until(lambda: states() == dict.fromkeys(bays, "free"), what="each bay free once measured empty")
    finally:
        agent.stop()
        sub.stop()
    late = Subscriber(broker.port, f"{PREFIX}/bays/+/state").start()
    try:
        retained = wait_until(lambda: (lambda ms: ms if len(ms) == len(bays) else None)(
            {m.topic: m.json() for m in late.all()}), what="the retained states")  # fmt: skip
        assert retained[f"{PREFIX}/bays/B/state"]["state"] == "free"
    finally:
        late.stop()
