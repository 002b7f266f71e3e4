"""A cut in the picture (an NVR replaying its buffer, a stream switch): no evidence of an empty bay until the picture
has run on without one for ``CUT_SETTLE_S`` (``bays/cut.py``). The real agent, the shipped occupancy model, a
simulated lock without a presence sensor (the camera is its only witness), a fake clock.

Probe nvrcut27 replayed 10 s of frames from 3 minutes before on the live-like 2013-03-19 PKLot clip: 18 parked cars
read confidently empty for up to 9.5 s, each with a car's worth of change in its bay (the still-bay rule believed
it). Here the buffer shows the lot before three cars parked: before ``picture_cut`` bay A's car "departed" on the
replayed frames and a remote ``lock`` raised the arm under it. Cars that drive in together are no cut (probe
cutsmall28): each bay moved on the frames before its car was in.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.bays.cut import CUT_SETTLE_S
from edge_agent.config.load import load_config
from edge_agent.events.types import EventType
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.synthetic import BAYS, Car, Scene, W, render
from tests.bays.test_vision import Frames, NoPlates
from tests.locks.test_vision_paths import watch_free

FPS = 5.0
LEFT, RIGHT = Car(250, None, body=(180, 30, 30)), Car(710, None, body=(40, 90, 160))


def lot(a: bool, b: bool, c: bool, y_bottom: float = LEFT.y_bottom) -> np.ndarray:
    """Two synthetic views side by side: bays A, B on the left, C, D on the right; a car in A, B, C as asked (its
    bottom at ``y_bottom``: short of the bays' 505, on its way in from the lane behind them)."""
    left = render(Scene(tuple(replace(car, y_bottom=y_bottom) for car, here in ((LEFT, a), (RIGHT, b)) if here)))
    right = render(Scene((replace(LEFT, y_bottom=y_bottom),) if c else ()))
    return np.hstack([left, right])


def config(tmp_path: Path, lock_bay: str = "A", **occupancy: float) -> Path:
    bays = {"A": BAYS["A"], "B": BAYS["B"], "C": [(x + W, y) for x, y in BAYS["A"]],
            "D": [(x + W, y) for x, y in BAYS["B"]]}
    cfg = {
        "site": {"site_id": "s", "device_id": "d"},
        "camera": {"source": "0", "fps": FPS},
        "bays": [{"id": b, "polygon": [[x, y] for x, y in p], **({"lock_id": "LA"} if b == lock_bay else {})}
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


def drive(agent: Agent, manager, clock, seconds: float, each=None) -> None:  # noqa: ANN001
    """``seconds`` of frames at ``FPS``: the agent's turn, the locks' tick, ``each()`` after them, the clock on."""
    for _ in range(int(round(seconds * FPS))):
        agent.step()
        manager.tick()
        if each is not None:
            each()
        clock.advance(1 / FPS)


def _watch_free(agent: Agent, manager, clock) -> None:  # noqa: ANN001
    """Bay A seen free for ``auto_raise_delay_s`` on end on this file's frames (``test_vision_paths.watch_free``)."""
    def fresh(seconds: float) -> None:
        clock.advance(seconds)
        agent.step()

    watch_free(manager._unit("A").controller, lambda s: drive(agent, manager, clock, s), fresh, 1 / FPS)


def started(tmp_path: Path, clock):  # noqa: ANN001, ANN201
    """The real agent on ``config(tmp_path)`` with its locks (no thread), started: (frames, agent, locks, events)."""
    src = Frames(clock)
    agent = Agent(load_config(config(tmp_path)), clock=clock, source=src, reader=NoPlates())
    manager = attach_locks(agent, thread=False)
    events: list = []
    agent.bus.subscribe(events.append)
    agent.start()
    return src, agent, manager, events


def test_a_replayed_buffer_raises_no_arm_under_a_parked_car(tmp_path, clock):  # noqa: ANN001
    src, agent, manager, events = started(tmp_path, clock)

    def run(seconds: float, check=None) -> None:  # noqa: ANN001
        drive(agent, manager, clock, seconds, check)

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
        _watch_free(agent, manager, clock)  # the car gone auto_raise_delay_s (20 s) on end: a command may raise A
        assert agent.lock("A", "close the bay", "ops").ok
    finally:
        agent.stop()


def test_cars_driving_in_together_on_a_small_view_are_no_cut(tmp_path, clock):  # noqa: ANN001
    """A camera over four bays; three cars drive in from the lane in front of them together, over 2 s. Each frame changes
    a car's worth of three of the four bays, which the rule took for a cut (the picture jumped): D's view vouched for
    nothing for 30 s and a raise of D's lock was refused. Each of those bays moved on the frames before: traffic."""
    src = Frames(clock)
    agent = Agent(load_config(config(tmp_path, lock_bay="D")), clock=clock, source=src, reader=NoPlates())
    manager = attach_locks(agent, thread=False)
    agent.start()
    seen: set[str] = set()

    def run(seconds: float) -> None:
        drive(agent, manager, clock, seconds, lambda: seen.add(agent.feed.vision("D").vision))

    try:
        src.next = lot(False, False, False)
        run(30)
        assert manager.state("D") == "up"  # the policy raised D on the empty bay
        assert agent.unlock("D", "visitor", "ops").ok
        run(2)
        seen.clear()
        # from the lane in front of the bays (under the picture), nose over the line slowly, then in at a walking
        # pace: up to 50 px a frame, a sixth of the bay, so each frame changes a car's worth of three of the four bays
        for y in (790, 785, 780, 775, 765, 750, 725, 690, 640, 590, 545, LEFT.y_bottom):
            src.next = lot(True, True, True, y_bottom=y)
            run(1 / FPS)
        run(3)
        assert "picture_cut" not in seen, seen  # (before: from the second frame of the cars' coming)
        assert agent.feed.vision("D").vision == "ok"
        res = agent.lock("D", "close the bay", "ops")
        assert res.ok, res  # (before: refused with picture_cut)
    finally:
        agent.stop()


def _moved(img: np.ndarray, dy: float) -> np.ndarray:
    """The view ``dy`` px lower: the camera's mount sagged a little (within ``shift_tolerance_px``)."""
    return cv2.warpAffine(img, np.float32([[1, 0, 0], [0, 1, dy]]), img.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


class _Dusk:
    """Bay A reads ``p`` (its still parked car as the model sees it now); every other bay reads empty."""

    p = 0.95

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        return {b: self.p if b == "A" else 0.05 for b in polygons}


@pytest.mark.parametrize("sag", [0.0, 18.0])
def test_a_cut_is_no_motion_that_lets_a_misread_still_car_leave(tmp_path, clock, sag):  # noqa: ANN001
    """A parked car the model reads empty at dusk is held, not confident, by the still-bay rule (nothing moved in the
    bay). The NVR then replays its buffer of the day: bay A's car lit by day, cars in B and C, a car's worth of change
    in three bays. That change is the picture's jump, not the car leaving: until probe raise28 it backed the misread
    at once, the bay was confidently empty once the cut settled, and the arm rose under the car 50 s after it. A
    ``sag`` of the mount as the live picture returns (the bays follow it) leaves the car as still: the picture from
    before the cut, carried with the view (probe cutkeep28), shows it as it was."""
    src, dusk, parked = Frames(clock), _Dusk(), False
    agent = Agent(load_config(config(tmp_path)), clock=clock, source=src, reader=NoPlates(), classifier=dusk)
    manager = attach_locks(agent, thread=False)
    agent.start()

    def never_up_under_the_car() -> None:
        assert not parked or manager.driver("A").arm.drive != "up", "the arm rose under the parked car"

    def run(seconds: float) -> None:
        drive(agent, manager, clock, seconds, never_up_under_the_car)

    day_lit = Car(250, None, body=(200, 200, 200))
    try:
        dusk.p = 0.05
        src.next = lot(False, False, False)
        run(30)
        assert manager.state("A") == "up"
        assert agent.unlock("A", "visitor", "ops").ok
        src.next, dusk.p, parked = lot(True, False, False), 0.95, True  # the visitor parks
        run(10)
        assert agent.bus.states()["A"].state == "occupied"
        dusk.p = 0.15  # dusk: the still car reads empty to the model
        run(60)
        assert not agent.feed.vision("A").confident
        src.next = np.hstack([render(Scene((day_lit, RIGHT))), render(Scene((LEFT,)))])  # the day's frames
        run(10)
        assert agent.feed.vision("A").vision == "picture_cut"
        src.next = lot(True, False, False)  # live again: the car as before the cut
        run(5)
        warp = agent.monitor.warp
        src.next = _moved(lot(True, False, False), sag)  # the mount sags: the bays follow the view
        run(5)
        assert (agent.monitor.warp != warp) == bool(sag), "the shift was not followed"
        run(CUT_SETTLE_S + 110)  # the cut settled, past auto_raise_delay_s
        a = agent.feed.vision("A")
        assert a.vision == "ok" and not a.confident, a
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_unsure", res
        src.next, parked = _moved(lot(False, False, False), sag), False  # the car drives off: motion, believed …
        run(30)
        assert manager.state("A") == "down"  # … once its change has stood still_confirm_s (a van stops so: review88)
        run(300)
        assert manager.state("A") == "up"
    finally:
        agent.stop()


@pytest.mark.parametrize("meanwhile", ["shift", "reload", "nothing"])
def test_a_departure_during_a_cut_survives_a_camera_shift_or_a_reload_before_the_settle(tmp_path, clock,  # noqa: ANN001
                                                                                        meanwhile):

    """A car leaves bay A on the very frame the picture cuts (PKLot 5 fps: a picture every 20 s, B05's car gone on the
    cut at 100 s); before the cut settles the camera shifts a few pixels and the bays follow it. At the settle each bay
    is compared with its picture from before the cut: A changed by a car's worth, so the cut's change is its motion and
    the departure is believed. Until probe cutkeep28 the shift's ``ChangeGate.follow`` dropped every bay's picture from
    before the cut, each bay then counted as unchanged, A's "empty" needed ``still_confirm_s`` (300 s) and the arm
    stayed down on the empty bay (PKLot 5 fps: B05's departure 150 s → 310 s); so did a reload's new monitor, which
    took over only the bays' other pictures. With nothing between the cut and its settling it was believed."""
    src, agent, manager, events = started(tmp_path, clock)

    def run(seconds: float) -> None:
        drive(agent, manager, clock, seconds)

    # the picture jumps to another moment: A's car gone, B's and C's parked otherwise (other cars, the same bays)
    cut = np.hstack([render(Scene((Car(640, None, body=(200, 200, 200)),))),
                     render(Scene((Car(320, None, body=(40, 150, 60)),)))])
    try:
        src.next = lot(False, False, False)
        run(30)
        assert agent.unlock("A", "visitor", "ops").ok
        for scene in (lot(True, False, False), lot(True, True, False), lot(True, True, True)):
            src.next = scene
            run(4)
        run(20)
        assert {e.bay_id for e in events if e.type == EventType.VEHICLE_ARRIVED} == {"A", "B", "C"}
        src.next = cut
        run(5)
        assert agent.feed.vision("A").vision == "picture_cut"
        warp = agent.monitor.warp
        if meanwhile == "shift":
            src.next = _moved(cut, 18)  # the mount sags 18 px: the bays follow the view
        elif meanwhile == "reload":
            config(tmp_path, gate_fraction=0.05)  # a threshold edited: the bays' outlines as they were
            assert agent.reload_config().ok
        run(5)
        assert (agent.monitor.warp != warp) == (meanwhile == "shift"), "the shift was not followed"
        run(CUT_SETTLE_S)
        a = agent.feed.vision("A")
        assert a.vision == "ok" and a.confident and a.p_occupied < 0.5, a  # (before: not confident for 300 s)
        assert [e.bay_id for e in events if e.type == EventType.VEHICLE_DEPARTED] == ["A"]
        _watch_free(agent, manager, clock)  # seen free since the car left, auto_raise_delay_s (20 s) on end
        res = agent.lock("A", "close the bay", "ops")
        assert res.ok, res  # (before: refused, occupancy_unsure, for still_confirm_s: 300 s)
    finally:
        agent.stop()
