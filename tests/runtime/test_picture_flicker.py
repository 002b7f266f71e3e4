"""A camera whose picture flickers black or grey between good frames (probe camflip14).

Seen on real cameras: an IR-cut filter hunting at dusk, a sensor or cable failing, an H.264 stream losing packets
(decoded as grey frames until the next key frame). Before: each bad frame was ``camera_lost`` and each good one
``camera_restored`` — 150 pairs a minute at 5 fps, and every bay's state published at each (600 state messages),
with the bays judged on every other frame. A camera back after an outage already had to deliver frames for
``camera.lost_after_s`` before ``camera_restored``; now a camera back from a black or grey picture does too.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.camera.health import HealthTracker
from edge_agent.events.types import Event
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import render
from tests.locks.test_reload_sensors import NoPlates

FPS = 5
PARKED = Scene(cars=(FUEL,))


def _bad(kind: str, like: np.ndarray) -> np.ndarray:
    return np.zeros_like(like) if kind == "black" else np.full_like(like, 128)


@pytest.mark.parametrize("kind", ["black", "flat"])
def test_a_picture_flickering_bad_is_one_loss_and_the_bays_stay_blind_until_it_holds_good(tmp_path, clock, kind):
    good = render(PARKED)
    flicker = [s for i in range(60 * FPS) for s in hold(1 / FPS, _bad(kind, good) if i % 2 == 0 else good)]
    frames = hold(4, render(EMPTY)) + flicker + hold(300, good)
    # no added sensor noise: a decoder's grey fill has none, and noise over it read as a picture
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=ScriptedSource(frames, clock, noise=False),
                  reader=NoPlates())
    events: list[Event] = []
    at: dict[str, float] = {}
    states: list = []
    t0 = clock.monotonic()
    agent.bus.subscribe(lambda e: (events.append(e), at.setdefault(e.event_id, clock.monotonic() - t0)))
    agent.bus.subscribe_state(states.append)
    agent.start()
    run_scripted(agent.step, clock, 4, FPS)
    for _ in range(60 * FPS):  # the good frames between too: nothing is judged on them
        run_scripted(agent.step, clock, 1 / FPS, FPS)
        assert not agent.monitor.vision_ok and not agent.health.health().ok, clock.monotonic() - t0
    assert [(e.type, e.data["reason"]) for e in events] == [("camera_lost", kind)]
    run_scripted(agent.step, clock, 20, FPS)
    camera = [e for e in events if e.type.startswith("camera_")]
    assert [e.type for e in camera] == ["camera_lost", "camera_restored"]
    assert at[camera[1].event_id] == pytest.approx(64 + 5, abs=0.5)  # good for camera.lost_after_s
    assert [(e.type, e.bay_id) for e in events if e.type.startswith("vehicle_")] == [("vehicle_arrived", "B")]
    assert len(states) <= 12, [(s.bay_id, s.state, s.camera_ok) for s in states]
    agent.stop()


@pytest.mark.parametrize("kind", ["black", "flat"])
def test_a_good_picture_after_a_bad_one_counts_once_it_held_lost_after_s(clock, kind):
    h = HealthTracker(clock, lost_after_s=5)
    rng = np.random.default_rng(0)

    def good() -> np.ndarray:
        return rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)

    for _ in range(5):
        h.on_frame(good())
        clock.advance(0.2)
    assert h.health().ok
    h.on_frame(_bad(kind, good()))
    assert h.health().reason == kind
    for _ in range(24):  # 4.8 s of good frames after it
        clock.advance(0.2)
        h.on_frame(good())
        assert h.health().reason == kind and not h.health().black
    clock.advance(0.2)
    h.on_frame(good())
    assert h.health().ok
