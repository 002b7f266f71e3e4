"""Frames that are not 3-channel 8-bit BGR, as a source may hand them over (GStreamer in GRAY8, a
mono IR camera, a 16-bit sensor, a driver's BGRA). Before: a one-channel 3-D frame, or one of 2 or
5 channels, reached an OpenCV colour conversion that raised, and the frame loop ended on it (at
every restart, with the same camera). Now the loop converts what it can and counts the rest as
corrupt frames: no picture, the camera is lost, nothing crashes."""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import pytest

from edge_agent.events.types import Event
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.sim.synthetic import render
from tests.locks.test_reload_sensors import NoPlates


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


CONVERTED: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "grey 2-D": _grey,
    "grey, one channel": lambda img: _grey(img)[:, :, None],
    "BGRA": lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2BGRA),
    "16-bit": lambda img: img.astype(np.uint16) * 257,
}
REFUSED: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "float": lambda img: img.astype(np.float32),
    "two channels": lambda img: np.dstack([_grey(img)] * 2),
    "five channels": lambda img: np.dstack([img, img[:, :, :2]]),
}


def _run(tmp_path, clock, convert: Callable[[np.ndarray], np.ndarray]) -> tuple[Agent, list[Event]]:  # noqa: ANN001
    frames = hold(4, convert(render(EMPTY))) + hold(30, convert(render(Scene(cars=(FUEL,)))))
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=ScriptedSource(frames, clock, noise=False),
                  reader=NoPlates())
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    agent.start()
    run_scripted(agent.step, clock, 20, 5)
    return agent, events


@pytest.mark.parametrize("name", CONVERTED)
def test_frames_the_loop_can_convert_are_judged(tmp_path, clock, name):
    agent, events = _run(tmp_path, clock, CONVERTED[name])
    assert [(e.type, e.bay_id) for e in events] == [("vehicle_arrived", "B")]
    assert agent.monitor._last_frame.shape == (540, 960, 3) and agent.monitor._last_frame.dtype == np.uint8
    assert agent.camera.health.corrupt == 0


@pytest.mark.parametrize("name", REFUSED)
def test_frames_it_cannot_are_corrupt_and_the_camera_is_lost_without_a_crash(tmp_path, clock, name):
    agent, events = _run(tmp_path, clock, REFUSED[name])
    assert [e.type for e in events] == ["camera_lost"] and events[0].data["reason"] == "no_frames"
    assert agent.camera.health.corrupt == 100 and agent.bus.states()["B"].state == "unknown"
