"""End to end: the real agent (real detector + recogniser on rendered frames) with simulated locks.

An NEV parks in bay A → lock A lowers; it leaves → lock A rises after the confirm delay.
A fuel car parks in bay B → lock B stays up, with a warning. Remote commands go through the agent.
"""

from __future__ import annotations

import pytest

from edge_agent.events.types import EventType
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY, ScriptedSource, demo_story, hold, scene_config

FPS = 5.0


@pytest.fixture(scope="module")
def pipeline(models_dir):  # noqa: ANN001, ANN201 - the real detector + recogniser
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.lists import PlateLists
    from edge_agent.perception.pipeline import Pipeline

    return Pipeline.from_config(PerceptionConfig(threads=1), models_dir, PlateLists())


def test_demo_story_drives_the_locks(pipeline, tmp_path, clock):  # noqa: ANN001
    locks = [
        {"id": "lock-A", "bay": "A", "driver": "simulator", "auto_raise_delay_s": 20,
         "simulator": {"travel_time_s": 2.0, "start": "up"}},
        {"id": "lock-B", "bay": "B", "driver": "simulator", "simulator": {"travel_time_s": 2.0, "start": "up"}},
    ]
    cfg = scene_config(str(tmp_path), locks=locks)
    segments = demo_story(FPS)
    agent = Agent(cfg, clock=clock, source=ScriptedSource(segments, clock), reader=pipeline)
    manager = attach_locks(agent, thread=False)
    seen: list[tuple[float, object]] = []
    t0 = clock.monotonic()
    agent.bus.subscribe(lambda e: seen.append((round(clock.monotonic() - t0, 1), e)))
    agent.start()
    lock_a: list[tuple[float, str]] = []
    for _ in range(int(sum(s.seconds for s in segments) * FPS)):
        agent.step()
        manager.tick()
        st = manager.state("A")
        if not lock_a or lock_a[-1][1] != st:
            lock_a.append((round(clock.monotonic() - t0, 1), st))
        clock.advance(1 / FPS)
    try:
        ident = {e.bay_id: (t, e) for t, e in seen if e.type == EventType.VEHICLE_IDENTIFIED}
        assert ident["A"][1].data["nev"] is True and ident["B"][1].data["nev"] is False
        t_nev = ident["A"][0]
        # A: lowered on the identification event itself, up again after departure + 20 s
        assert [s for _, s in lock_a] == ["up", "moving", "down", "moving", "up"], lock_a
        assert lock_a[1][0] == t_nev
        t_dep = next(t for t, e in seen if e.type == EventType.VEHICLE_DEPARTED and e.bay_id == "A")
        assert t_dep + 20 <= lock_a[3][0] <= t_dep + 20 + 0.5
        # B: never moved, warned once with the fuel plate
        moved_b = [e for _, e in seen if e.type == EventType.LOCK_MOVED and e.bay_id == "B"]
        assert [e.data["state"] for e in moved_b] == ["up"]
        warn = [e for _, e in seen if e.type == EventType.LOCK_WARNING]
        assert [e.bay_id for e in warn] == ["B"] and warn[0].data["reason"] == "fuel vehicle"
        assert not [e for _, e in seen if e.type in (EventType.LOCK_FAULT, EventType.LOCK_TAMPER)]
        # remote commands reach the interlock through the agent
        assert agent.lock("A", "night", "ops").ok is True  # already up
        res = agent.unlock("B", "let the tow truck in", "ops")
        assert res.ok and res.data["lock_id"] == "lock-B"
    finally:
        agent.stop()


class _NoPlates:
    def process(self, frame, region=None):  # noqa: ANN001, ANN201 - PlateReader: this test is about commands
        return []


def test_fault_reset_and_maintenance_commands_reach_the_lock(tmp_path, clock):  # noqa: ANN001
    """A stalled motor latches a FAULT; ``reset_lock`` (MQTT ``lock-reset``) clears it once the cause is
    gone; ``set_maintenance`` (MQTT ``maintenance``) holds the lock down with no automatic rise."""
    locks = [{"id": "lock-A", "bay": "A", "driver": "simulator", "auto_raise_delay_s": 20,
              "simulator": {"travel_time_s": 2.0, "start": "down"}}]
    agent = Agent(scene_config(str(tmp_path), locks=locks), clock=clock,
                  source=ScriptedSource(hold(300, EMPTY), clock), reader=_NoPlates())
    manager = attach_locks(agent, thread=False)
    seen: list = []
    agent.bus.subscribe(seen.append)
    agent.start()

    def run(seconds: float) -> None:
        for _ in range(int(seconds * 10)):
            agent.step()
            manager.tick()
            clock.advance(0.1)

    try:
        arm = manager.driver("A").arm
        arm.stall()
        run(40)  # bay free → the controller tries to raise; the stalled motor times out
        assert manager.state("A") == "fault"
        assert [e.data["code"] for e in seen if e.type == EventType.LOCK_FAULT][:1] == ["motor_timeout"]
        arm.stall(False)
        res = agent.reset_lock("A", "ops")
        assert res.ok, res.message
        run(5)  # cleared: the bay must be free for auto_raise_delay_s from the reset (someone may be at the arm)
        assert manager.state("A") == "down"
        run(20)  # then the policy raises it, now the motor works
        assert manager.state("A") == "up"
        assert agent.set_maintenance("A", True, "ops").ok
        run(5)
        assert manager.state("A") == "down"
        run(60)  # free for a minute: in maintenance no automatic rise
        assert manager.state("A") == "down"
        assert agent.set_maintenance("A", False, "ops").ok
        run(25)
        assert manager.state("A") == "up"
    finally:
        agent.stop()
