"""A vehicle that hides the camera's view (a bus crossing close to it, a van, the parked car itself) must not break
the bays' stories. The real agent, the shipped occupancy model, a gpiozero lock on bay A (MockFactory pins), a fake
clock; the rendered lot with an occluder laid over the frame. Each story is compared with the same scene's without
the occluder: the same events, late by at most what the camera could not see plus the usual confirmation, and the
arm never up under a car.

Before: the view matched no reference while the occluder stood (too few of its corners showed), so no reading made
then counted toward a raise, and the change the view's return made in a bay counted toward no departure when the
camera last vouched a car there. A car that left while the occluder hid its bay therefore "left" with nothing
moving: its departure waited ``still_confirm_s`` (300 s; none within the 80 s that followed a 2, 10 or 60 s bus),
and bay A's departure was never told while the real-photo car beside it hid the corners (plates-dev).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from gpiozero.pins.mock import MockFactory

from edge_agent.clock import FakeClock
from edge_agent.config.load import load_config
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import FUEL
from edge_agent.sim.synthetic import BAY_A, BAY_B, Car, Scene, render
from tests.bays.photos import compose, labelled_photos
from tests.bays.test_vision import Frames, NoPlates
from tests.locks.arm import DOWN, SW_DOWN, SW_UP, UP, move_arm

FPS = 5.0
A_CAR = Car(250, "粤BD12345", "green", (235, 235, 240))
B_CAR = Car(710, FUEL.plate, body=(40, 90, 160))
DEPART_S, ARRIVE_S = 3.0, 2.0  # the site's departure_confirm_s / arrival_confirm_s
SLACK_S = 1.0  # classification and confirmation frames


def _bus(img: np.ndarray) -> np.ndarray:
    """A bus crossing close to the camera fills the view: no corner of the reference shows (unmatched)."""
    out = img.copy()
    out[:] = (70, 75, 80)
    return out


def _night(img: np.ndarray) -> np.ndarray:
    """The lot at night: dim and soft, too few corners for the view to match the reference (unmatched), the bays
    still read — a blue car in the doubt band (p about 0.36), the white one still a car."""
    return np.clip(cv2.GaussianBlur(img.astype(np.float32), (0, 0), 9) * 0.1 + 3, 0, 255).astype(np.uint8)


def _mirror_van(img: np.ndarray) -> np.ndarray:
    """A van whose glossy side mirrors the lot fills the view: the reference's own corners, 60 px off. Registration
    measures that as the camera moved (a false shift), and the bays are not read until it is back in place."""
    return np.roll(img, 60, axis=1)


class _Lot:
    """Bays A (its lock on gpiozero pins, no presence sensor) and B of the rendered lot, frames set by the test."""

    def __init__(self, tmp: Path, lock: dict | None = None, **camera: object) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        path = tmp / "agent.yaml"
        path.write_text(yaml.safe_dump({
            "site": {"site_id": "s", "device_id": "d"},
            "camera": {"source": "0", "fps": FPS, "width": 960, "height": 540, **camera},
            "timers": {"arrival_confirm_s": ARRIVE_S, "departure_confirm_s": DEPART_S},
            "bays": [{"id": "A", "polygon": [list(p) for p in BAY_A]}, {"id": "B", "polygon": [list(p) for p in BAY_B]}],
            "data_dir": str(tmp / "data"),
            "locks": [{"id": "LA", "bay": "A", "driver": "gpiozero", "auto_raise_delay_s": 20,
                       "motor": {"kind": "relays", "up": {"pin": UP}, "down": {"pin": DOWN}},
                       "switches": {"down": {"pin": SW_DOWN}, "up": {"pin": SW_UP}}, **(lock or {})}]}))
        self.clock = FakeClock()
        self.src = Frames(self.clock)
        self.agent = Agent(load_config(path), clock=self.clock, source=self.src, reader=NoPlates())
        self.factory = MockFactory()
        self.locks = attach_locks(self.agent, pin_factory=self.factory, thread=False)
        self.t0 = self.clock.monotonic()
        self.position = 0.0  # 0 down … 1 up
        self.up_under_car = 0  # frames the arm was not down while the frame showed a car in A
        self.events: list[tuple[float, Event]] = []
        self.agent.bus.subscribe(lambda e: self.events.append((round(self.clock.monotonic() - self.t0, 1), e)))
        self._sync()
        self.agent.start()

    def _sync(self, dt: float = 0.0) -> None:
        self.position = move_arm(self.factory, self.position, dt)

    def run(self, seconds: float, frame: np.ndarray, car_in_a: bool, fps: float = FPS) -> None:
        self.src.next = frame
        for _ in range(round(seconds * fps)):
            self._sync(1 / fps)
            self.agent.step()
            self.locks.tick()
            self.up_under_car += car_in_a and self.position > 0
            self.clock.advance(1 / fps)

    def story(self) -> list[tuple[str, str]]:
        return [(e.type, e.bay_id) for _, e in self.events if e.type.startswith("vehicle_")]

    def at(self, type_: str, bay: str) -> float:
        found = [t for t, e in self.events if e.type == type_ and e.bay_id == bay]
        assert len(found) == 1, (type_, bay, self.story())
        return found[0]

    def close(self) -> None:
        self.agent.stop()
        self.factory.reset()


def _play(tmp: Path, plan: list[tuple[float, np.ndarray, bool]]) -> _Lot:
    lot = _Lot(tmp)
    try:
        for seconds, frame, car_in_a in plan:
            lot.run(seconds, frame, car_in_a)
    finally:
        lot.close()
    return lot


def _crossing(tmp: Path, before: Scene, after: Scene, seconds: float, occluder) -> _Lot:  # noqa: ANN001
    """``before`` for 15 s; an occluder for ``seconds`` (``before`` under it for the first half, ``after`` for the
    rest: what changed in the bays then happened unseen); ``after`` for 80 s. ``occluder`` None: the same story
    seen throughout."""
    hide = occluder or (lambda img: img)
    half = seconds / 2
    plan = [(15.0, render(before), A_CAR in before.cars), (half, hide(render(before)), A_CAR in before.cars),
            (half, hide(render(after)), A_CAR in after.cars), (80.0, render(after), A_CAR in after.cars)]
    return _play(tmp, plan)


@pytest.mark.parametrize("seconds", [2, 10, 60])
def test_a_car_that_leaves_while_a_bus_hides_the_view_departs_as_it_passes(tmp_path, seconds):  # noqa: ANN001
    seen = _crossing(tmp_path / "seen", Scene(cars=(A_CAR, B_CAR)), Scene(cars=(A_CAR,)), seconds, None)
    hidden = _crossing(tmp_path / "hidden", Scene(cars=(A_CAR, B_CAR)), Scene(cars=(A_CAR,)), seconds, _bus)
    assert hidden.story() == seen.story()
    gone = 15 + seconds  # the bus has passed: the first frame that shows B empty
    assert hidden.at(EventType.VEHICLE_DEPARTED, "B") <= gone + DEPART_S + SLACK_S
    assert hidden.up_under_car == seen.up_under_car == 0


@pytest.mark.parametrize("seconds", [2, 10, 60])
def test_a_car_that_arrives_while_a_bus_hides_the_view_arrives_as_it_passes(tmp_path, seconds):  # noqa: ANN001
    seen = _crossing(tmp_path / "seen", Scene(cars=(A_CAR,)), Scene(cars=(A_CAR, B_CAR)), seconds, None)
    hidden = _crossing(tmp_path / "hidden", Scene(cars=(A_CAR,)), Scene(cars=(A_CAR, B_CAR)), seconds, _bus)
    assert hidden.story() == seen.story()
    assert hidden.at(EventType.VEHICLE_ARRIVED, "B") <= 15 + seconds + ARRIVE_S + SLACK_S
    assert hidden.up_under_car == 0


@pytest.mark.parametrize("seconds", [2, 10, 60])
def test_the_locked_bay_emptied_while_a_bus_hid_it_rises_only_once_it_is_seen_empty(tmp_path, seconds):  # noqa: ANN001
    """A's car leaves behind the bus: its departure is told as the bus passes, and the arm rises the site's
    ``auto_raise_delay_s`` after it, never while the car stood (nor under the bus)."""
    seen = _crossing(tmp_path / "seen", Scene(cars=(A_CAR, B_CAR)), Scene(cars=(B_CAR,)), seconds, None)
    hidden = _crossing(tmp_path / "hidden", Scene(cars=(A_CAR, B_CAR)), Scene(cars=(B_CAR,)), seconds, _bus)
    assert hidden.story() == seen.story()
    left = hidden.at(EventType.VEHICLE_DEPARTED, "A")
    assert left <= 15 + seconds + DEPART_S + SLACK_S
    assert hidden.up_under_car == 0 and hidden.position == seen.position == 1.0


def test_a_bus_that_hides_a_still_lot_changes_no_story(tmp_path):  # noqa: ANN001
    hidden = _crossing(tmp_path, Scene(cars=(A_CAR, B_CAR)), Scene(cars=(A_CAR, B_CAR)), 60, _bus)
    assert hidden.story() == [(EventType.VEHICLE_ARRIVED, "A"), (EventType.VEHICLE_ARRIVED, "B")]
    assert hidden.up_under_car == 0


def test_a_van_mirroring_the_lot_reads_as_the_camera_moved_and_the_story_resumes_as_it_passes(tmp_path):  # noqa: ANN001
    """Its own corners give a false shift (``camera_moved``): the bays are not read while it stands, and the
    camera is back in place ``moved_confirm_s`` (2 s) after it passed; B's departure behind it is told then."""
    seen = _crossing(tmp_path / "seen", Scene(cars=(A_CAR, B_CAR)), Scene(cars=(A_CAR,)), 10, None)
    hidden = _crossing(tmp_path / "hidden", Scene(cars=(A_CAR, B_CAR)), Scene(cars=(A_CAR,)), 10, _mirror_van)
    assert hidden.story() == seen.story()
    assert [e.type for _, e in hidden.events if e.type.startswith("camera_")] == [EventType.CAMERA_MOVED,
                                                                                  EventType.CAMERA_ALIGNED]
    assert hidden.at(EventType.VEHICLE_DEPARTED, "B") <= 25 + 2 + DEPART_S + SLACK_S
    assert hidden.up_under_car == 0


def test_a_night_the_view_cannot_match_keeps_the_parked_cars_stories_and_the_emptied_bay_rises_at_dawn(tmp_path):  # noqa: ANN001
    """Half an hour too dark for the view to match (a frame every 2 s), A's car leaving in the middle of it. B's
    parked car reads in the doubt band all night: its story stays as without the night, and A departs as day
    breaks, its arm rising after. Before: doubt ended B's visit ``doubt_confirm_s`` into the night, on readings
    the camera could not vouch for, and B "arrived" again at dawn."""
    lot = _Lot(tmp_path)
    try:
        lot.run(15, render(Scene(cars=(A_CAR, B_CAR))), True)
        lot.run(900, _night(render(Scene(cars=(A_CAR, B_CAR)))), True, fps=0.5)
        assert not lot.agent.monitor.matched and lot.agent.monitor.camera_ok  # unmatched, not lost nor blind
        lot.run(900, _night(render(Scene(cars=(B_CAR,)))), False, fps=0.5)
        lot.run(80, render(Scene(cars=(B_CAR,))), False)
    finally:
        lot.close()
    assert lot.story() == [(EventType.VEHICLE_ARRIVED, "A"), (EventType.VEHICLE_ARRIVED, "B"),
                           (EventType.VEHICLE_DEPARTED, "A")]
    assert lot.at(EventType.VEHICLE_DEPARTED, "A") <= 15 + 1800 + DEPART_S + SLACK_S
    assert lot.up_under_car == 0 and lot.position == 1.0


def _with(frame: np.ndarray, scene: Scene) -> np.ndarray:
    """``frame`` (the empty lot with a photo pasted in) with ``scene``'s rendered cars over it."""
    drawn, empty = render(scene), render(Scene())
    out = frame.copy()
    over = (drawn != empty).any(axis=2)
    out[over] = drawn[over]
    return out


@pytest.mark.dataset
def test_real_photo_cars_that_hide_the_view_leave_on_time_while_the_neighbour_comes_and_goes(plates_dev, tmp_path):  # noqa: ANN001
    """The car in A (a real photo, as in test_photo_scenarios) covers some of the corners the view is matched on
    (some photos: all of them, for its whole stay); the car in B leaves during its stay, or comes. A's departure
    and B's are told as they are without the view ever unmatched (a rendered car in A), the arm down meanwhile.
    Before: with the first of the five, the view stopped matching as B came (and with the fourth as B left), the
    camera last vouched a car in A, so the view's return as A drove off counted as no motion: no departure of A
    (it waited ``still_confirm_s``), the arm never rose."""
    empty, b = render(Scene()), render(Scene(cars=(B_CAR,)))
    for i, (path, _, box) in enumerate(labelled_photos(plates_dev, "green", 5)):
        car = compose(path, box, centre_x=250, plate_bottom_y=470)
        for name, plan in {
            "B leaves": [(5, b, False), (15, _with(car, Scene(cars=(B_CAR,))), True), (20, car, True),
                         (45, empty, False)],
            "B comes": [(5, empty, False), (15, car, True), (20, _with(car, Scene(cars=(B_CAR,))), True),
                        (45, b, False)],
        }.items():
            lot = _play(tmp_path / f"{i}{name}", plan)
            assert lot.story()[-1] == (EventType.VEHICLE_DEPARTED, "A"), (path.name, name, lot.story())
            assert lot.at(EventType.VEHICLE_DEPARTED, "A") <= 40 + DEPART_S + SLACK_S, (path.name, name)
            assert lot.up_under_car == 0 and lot.position == 1.0, (path.name, name)


def _hedge(img: np.ndarray) -> np.ndarray:
    """The camera knocked to face a hedge: plenty of corners, none of the reference's (unmatched, another scene)."""
    rng = np.random.default_rng(3)
    return cv2.GaussianBlur(rng.integers(0, 255, img.shape, dtype=np.uint8), (5, 5), 0)


def _sky(img: np.ndarray) -> np.ndarray:
    """The camera tipped at the sky: a bright, nearly flat view (too few corners to match, not black nor flat)."""
    h, w = img.shape[:2]
    ramp = np.linspace(230, 170, h, dtype=np.float32)[:, None, None] * np.float32([1.0, 0.9, 0.8])
    noise = np.random.default_rng(4).normal(0, 6, (h, w, 3)).astype(np.float32)
    return np.clip(np.broadcast_to(ramp, (h, w, 3)) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("knock", [_hedge, _sky])
def test_a_camera_knocked_to_face_elsewhere_holds_every_story_until_it_is_put_back(tmp_path, knock):  # noqa: ANN001
    """Two parked cars, the camera knocked to face a hedge or the sky for two minutes, then put back. Before: every
    bay was read on whatever the knocked camera showed, and both cars "departed" within seconds of the knock (a
    violation ended so, by anyone who turns the camera), to "arrive" again when it was put back. Now a view that
    stops matching as another scene comes is blind: the stories hold, the bays read ``camera_ok`` false, and
    ``camera_moved`` ``{"unmatched": true}`` tells the backend after a minute."""
    both = render(Scene(cars=(A_CAR, B_CAR)))
    lot = _Lot(tmp_path)
    try:
        lot.run(15, both, True)
        lot.run(120, knock(both), True)
        assert lot.agent.monitor.held and not lot.agent.bus.states()["A"].camera_ok
        lot.run(60, both, True)
        assert not lot.agent.monitor.held and lot.agent.bus.states()["A"].camera_ok
    finally:
        lot.close()
    assert lot.story() == [(EventType.VEHICLE_ARRIVED, "A"), (EventType.VEHICLE_ARRIVED, "B")]
    assert [(e.type, e.data.get("unmatched")) for _, e in lot.events if e.type.startswith("camera_")] == [
        (EventType.CAMERA_MOVED, True), (EventType.CAMERA_ALIGNED, True)]
    assert lot.up_under_car == 0


def test_cars_that_left_while_the_camera_faced_elsewhere_depart_as_it_is_put_back(tmp_path):  # noqa: ANN001
    lot = _Lot(tmp_path)
    try:
        lot.run(15, render(Scene(cars=(A_CAR, B_CAR))), True)
        lot.run(60, _hedge(render(Scene(cars=(A_CAR, B_CAR)))), True)
        lot.run(60, _hedge(render(Scene())), False)  # they leave unseen
        lot.run(80, render(Scene()), False)
    finally:
        lot.close()
    assert lot.story() == [(EventType.VEHICLE_ARRIVED, "A"), (EventType.VEHICLE_ARRIVED, "B"),
                           (EventType.VEHICLE_DEPARTED, "A"), (EventType.VEHICLE_DEPARTED, "B")]
    assert lot.at(EventType.VEHICLE_DEPARTED, "A") <= 135 + DEPART_S + SLACK_S
    assert lot.at(EventType.VEHICLE_DEPARTED, "B") <= 135 + DEPART_S + SLACK_S
    assert lot.up_under_car == 0 and lot.position == 1.0


def test_a_van_at_the_lens_in_a_night_the_view_cannot_match_blinds_the_bays_only_while_it_stands(tmp_path):  # noqa: ANN001
    """A night drifts out of matching: the bays are read on (``held`` false). A van stopping at the lens is another
    scene: held; it drives on and the night view is back (the same scene as before it), read on again."""
    night = _night(render(Scene(cars=(A_CAR, B_CAR))))
    lot = _Lot(tmp_path)
    try:
        lot.run(15, render(Scene(cars=(A_CAR, B_CAR))), True)
        lot.run(60, night, True, fps=0.5)
        assert not lot.agent.monitor.matched and not lot.agent.monitor.held
        lot.run(10, _bus(night), True, fps=0.5)
        assert lot.agent.monitor.held
        lot.run(30, night, True, fps=0.5)
        assert not lot.agent.monitor.matched and not lot.agent.monitor.held
    finally:
        lot.close()
    assert lot.story() == [(EventType.VEHICLE_ARRIVED, "A"), (EventType.VEHICLE_ARRIVED, "B")]
    assert lot.up_under_car == 0


def test_a_view_seen_unmatched_for_seconds_around_a_dropped_stream_is_no_minute_unmatched(tmp_path):  # noqa: ANN001
    """One frame matching nothing (a truck at the lens), the stream lost for 90 s, then 3 s more of it. Before: the
    minute counted from that one frame, so ``camera_moved`` ``{"unmatched": true, "unmatched_s": 60.0}`` went out
    with the first frame back (before ``camera_restored``), and ``camera_aligned`` 3 s later: a pair for a view seen
    unmatched for 3 s. A view that stays unmatched a minute after the stream is back is still reported."""
    day = render(Scene(cars=(A_CAR, B_CAR)))
    lot = _Lot(tmp_path)
    try:
        lot.run(15, day, True)
        lot.run(0.2, _hedge(day), True)
        lot.src.next = None  # the stream drops
        for _ in range(round(90 * FPS)):
            lot.agent.step()
            lot.locks.tick()
            lot.clock.advance(1 / FPS)
        lot.run(8, _hedge(day), True)  # back (restored after a few frames), unmatched 3 s more
        lot.run(10, day, True)
        camera = [e.type for _, e in lot.events if e.type.startswith("camera_")]
        assert camera == [EventType.CAMERA_LOST, EventType.CAMERA_RESTORED], camera
        lot.run(70, _hedge(day), True)
    finally:
        lot.close()
    moved = [t for t, e in lot.events if e.type == EventType.CAMERA_MOVED]
    assert moved == [pytest.approx(123.2 + 60, abs=1.5)], moved


@pytest.mark.parametrize("knock", [_hedge, _sky])
def test_a_knock_between_two_measurements_is_measured_at_once(tmp_path, knock):  # noqa: ANN001
    """``shift_every_s`` 10 (the lock trusting evidence 12 s old): the camera knocked 5 s after a measurement. Before: the knocked view was read until the
    next one (5 s later), both parked cars "departed" 3 s after the knock and "arrived" again when it was put back.
    Now a frame whose structure shows another scene than the last one measured is measured at once: held from the
    knock's first frame, the stories as they were."""
    both = render(Scene(cars=(A_CAR, B_CAR)))
    lot = _Lot(tmp_path, lock={"occupancy_max_age_s": 12.0}, shift_every_s=10.0, lost_after_s=12.0)
    try:
        lot.run(15, both, True)
        lot.run(0.2, knock(both), True)
        assert lot.agent.monitor.held
        lot.run(120, knock(both), True)
        lot.run(60, both, True)
    finally:
        lot.close()
    assert lot.story() == [(EventType.VEHICLE_ARRIVED, "A"), (EventType.VEHICLE_ARRIVED, "B")]
    assert lot.up_under_car == 0
