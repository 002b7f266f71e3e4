"""The stop plan's last step closes the evidence index (``Assembled.close``); a component still stopping then (its
step in the plan timed out and the plan moved on) must not find it closed under it."""

from __future__ import annotations

import threading

from edge_agent.ops.signals import ShutdownPlan
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config
from edge_agent.sim.synthetic import render


def test_a_stop_step_that_overruns_its_time_keeps_the_evidence_index_open_for_it(tmp_path, models_dir, clock):
    """A component whose stop outlasts the "stop sinks" step (a lock's motor, a notifier's last send, the page
    answering a request) writes an evidence row as it ends: the plan had gone on and closed the index, so the row
    was lost ("Cannot operate on a closed database", a traceback in the stop thread) and its photo left unnamed."""
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir), "threads": 1})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, render(EMPTY)), clock), review=False)
    agent, release, saved = parts.agent, threading.Event(), []

    class Slow:
        def start(self) -> None:
            pass

        def stop(self) -> None:
            assert release.wait(10)
            saved.append(agent.evidence.save("A", None, "snapshot", b"\xff\xd8 a photo", None))

    agent.add_component(Slow())
    agent.start()
    plan = ShutdownPlan(budget_s=10.0)
    plan.add("stop sinks", parts.stop_sinks, timeout_s=0.2)
    plan.add("close databases", parts.close)
    assert [r.status for r in plan.run()] == ["timeout", "ok"]
    release.set()
    for t in threading.enumerate():
        if t.name == "shutdown:stop sinks":
            t.join(10)
    assert len(saved) == 1 and agent.evidence.get(saved[0]) is not None
    parts.close()  # once the stop ended, the index closes as usual
