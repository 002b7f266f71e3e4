"""Every bay's retained state is published when the agent starts, not only when the bay first changes."""

from __future__ import annotations

import json

import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.config.load import load_config
from edge_agent.events.types import BayState
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold
from tests.events.helpers import BAYS, Subscriber, config_dict, wait_until

pytestmark = pytest.mark.broker


def test_each_bay_state_is_published_at_start_and_replaces_the_last_runs(broker, tmp_path):
    """The bay monitor told its first states before the MQTT link listened: a bay nothing happened to had no
    retained state (Home Assistant's entities for it read unknown, a backend had no row), and one a previous run
    left in ``violation`` read so until the bay next changed, hours later."""
    data = config_dict(broker.url(), tmp_path / "data")
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    stale = BayState("B3", "violation", "2026-01-01T08:00:00.000+08:00", visit_id="v-1", plate="京A12345")
    old = Subscriber(broker.port, "unused/none").start()  # what the previous run left retained
    old.c.publish("edge/s1/dev1/bays/B3/state", json.dumps(stale.to_dict()), qos=1,
                  retain=True).wait_for_publish(5)  # fmt: skip
    old.stop()
    clock = FakeClock()
    agent = assemble(load_config(path), clock=clock, source=ScriptedSource(hold(60, EMPTY), clock), review=False).agent
    sub = Subscriber(broker.port, "edge/+/+/bays/+/state").start()
    try:
        agent.start()  # no frame analysed yet
        wait_until(lambda: {m.topic for m in sub.all() if not m.retain} >= {  # published by this run
            f"edge/s1/dev1/bays/{b}/state" for b in BAYS}, what="a state per bay")  # fmt: skip
    finally:
        agent.stop()
        sub.stop()
    late = Subscriber(broker.port, "edge/+/+/bays/+/state").start()
    try:
        retained = wait_until(lambda: (lambda ms: ms if len(ms) == len(BAYS) else None)(
            {m.topic: m.json() for m in late.all()}), what="the retained states")  # fmt: skip
        assert retained["edge/s1/dev1/bays/B3/state"]["state"] != "violation"
    finally:
        late.stop()
