"""A cut in the picture (an NVR replaying its buffer, a stream switch): no evidence of an empty bay until the picture
has run on without one for ``CUT_SETTLE_S`` (``bays/cut.py``). The real agent, the shipped occupancy model, a
simulated lock without a presence sensor (the camera is its only witness), a fake clock.

Probe nvrcut27 replayed 10 s of frames from 3 minutes before on the live-like 2013-03-19 PKLot clip: 18 parked cars
read confidently empty for up to 9.5 s, each with a car's worth of change in its bay (the still-bay rule believed
it). Here the buffer shows the lot before three cars parked: before ``picture_cut`` bay A's car "departed" on the
replayed frames and a remote ``lock`` raised the arm under it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from edge_agent.bays.cut import CUT_SETTLE_S
from edge_agent.config.load import load_config
from edge_agent.events.types import EventType
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.synthetic import BAYS, Car, Scene, W, render
from tests.bays.test_vision import Frames, NoPlates

FPS = 5.0
LEFT, RIGHT = Car(250, None, body=(180, 30, 30)), Car(710, None, body=(40, 90, 160))


def lot(a: bool, b: bool, c: bool) -> np.ndarray:
    """Two synthetic views side by side: bays A, B on the left, C, D on the right; a car in A, B, C as asked."""
    left = render(Scene(tuple(car for car, here in ((LEFT, a), (RIGHT, b)) if here)))
    right = render(Scene((LEFT,) if c else ()))
    return np.hstack([left, right])


def config(tmp_path: Path, **occupancy: float) -> Path:
    bays = {"A": BAYS["A"], "B": BAYS["B"], "C": [(x + W, y) for x, y in BAYS["A"]],
            "D": [(x + W, y) for x, y in BAYS["B"]]}
    cfg = {
        "site": {"site_id": "s", "device_id": "d"},
        "camera": {"source": "0", "fps": FPS},
        "bays": [{"id": b, "polygon": [[x, y] for x, y in p], **({"lock_id": "LA"} if b == "A" else {})}
                 for b, p in bays.items()],
        "timers": {"arrival_confirm_s": 2, "departure_confirm_s": 3},
        "locks": [{"id": "LA", "driver": "simulator", "auto_raise_delay_s": 20,
                   "simulator": {"travel_time_s": 1.0, "start": "down", "presence": False}}],
        "data_dir": str(tmp_path / "data"),
        **({"occupancy": occupancy} if occupancy else {}),
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_replayed_buffer_raises_no_arm_under_a_parked_car(tmp_path, clock):  # noqa: ANN001
    src = Frames(clock)
    agent = Agent(load_config(config(tmp_path)), clock=clock, source=src, reader=NoPlates())
    manager = attach_locks(agent, thread=False)
    events: list = []
    agent.bus.subscribe(events.append)
    agent.start()

    def run(seconds: float, check=None) -> None:  # noqa: ANN001
        for _ in range(int(round(seconds * FPS))):
            agent.step()
            manager.tick()
            if check is not None:
                check()
            clock.advance(1 / FPS)

    def never_up() -> None:
        assert manager.driver("A").arm.drive != "up", "the arm rose under the parked car"

    try:
        src.next = lot(False, False, False)
        run(30)
        assert manager.state("A") == "up"  # the policy raised A on the empty bay
        assert agent.unlock("A", "visitor", "ops").ok
        run(2)
        # three cars park, one after another (each a bay's change: no cut)
        for scene in (lot(True, False, False), lot(True, True, False), lot(True, True, True)):
            src.next = scene
            run(4)
        run(6)
        assert agent.feed.vision("A").vision == "ok"
        assert {e.bay_id for e in events if e.type == EventType.VEHICLE_ARRIVED} == {"A", "B", "C"}
        # the NVR reconnects and replays its buffer: the frames of the lot before the cars came, for 10 s
        src.next = lot(False, False, False)
        run(6, never_up)
        res = agent.lock("A", "close the bay", "ops")  # (before picture_cut: ok, the arm rose under the car)
        assert not res.ok and res.data["code"] == "picture_cut", res
        a = agent.feed.vision("A")
        assert a.vision == "picture_cut" and a.p_occupied is not None  # still classified, vouching for nothing
        assert agent.health_figures().extra["bays_unseen"] == dict.fromkeys("ABCD", "picture_cut")
        config(tmp_path, gate_fraction=0.05)  # a reload's new monitor during the replay: still a replay
        assert agent.reload_config().ok
        run(1, never_up)
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "picture_cut", res
        run(3, never_up)
        src.next = lot(True, True, True)  # live again: the jump back is a cut too
        run(CUT_SETTLE_S - 1, never_up)
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] in ("picture_cut", "bay_occupied"), res
        # the cars leave one after another; once the picture has run on for CUT_SETTLE_S the bays vouch again
        for scene in (lot(True, True, False), lot(True, False, False), lot(False, False, False)):
            src.next = scene
            run(5, never_up)
        run(6)
        assert agent.feed.vision("A").vision == "ok" and agent.health_figures().extra["bays_unseen"] == {}
        assert agent.lock("A", "close the bay", "ops").ok
    finally:
        agent.stop()
