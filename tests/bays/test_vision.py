"""The camera's evidence per bay (``BayVision``), which every lock raise needs: fresh,
confident, and "ok" only when the frame, the bay's mask and the camera's alignment can vouch
for an empty bay. The classifier's p_occupied and hysteresis fill it.

The probe's bay (a NaN polygon) had a mask with no pixel: 0 % changed, "free" for ever.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.bays.feed import BayFeed
from edge_agent.bays.monitor import BayMonitor
from edge_agent.camera.health import HealthTracker
from edge_agent.camera.source import Frame
from edge_agent.config.bays import BayConfig
from edge_agent.events.bus import EventBus
from edge_agent.perception.lists import PlateLists
from edge_agent.runtime.agent import Agent
from edge_agent.sim.scenario import EMPTY, scene_config
from edge_agent.sim.synthetic import BAYS, render

FPS = 5.0


class NoPlates:
    def process(self, frame, region=None):  # noqa: ANN001, ANN201 - PlateReader: this is about the camera's measure
        return []


class Frames:
    """A source that serves whatever the test puts in ``next`` (None: nothing new)."""

    reconnects = 0

    def __init__(self, clock) -> None:  # noqa: ANN001
        self.clock, self.next, self.seq = clock, None, 0
        self.seed = 0  # another seed: another sensor's noise (a camera rebooted after a hang sends no old frame)
        self._noisy: tuple[int, list[np.ndarray]] | None = None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def latest(self) -> Frame | None:
        if self.next is None:
            return None
        self.seq += 1
        if self._noisy is None or self._noisy[0] != id(self.next):  # sensor noise: a live camera never
            rng = np.random.default_rng(self.seed)                  # repeats a frame exactly
            self._noisy = (id(self.next), [np.clip(self.next.astype(np.int16) + rng.integers(-2, 3, self.next.shape),
                                                   0, 255).astype(np.uint8) for _ in range(4)])
        return Frame(self._noisy[1][self.seq % 4], self.seq, self.clock.monotonic())


def agent_with(tmp_path, clock, **over):  # noqa: ANN001, ANN003, ANN201
    src = Frames(clock)
    agent = Agent(scene_config(str(tmp_path), **over), clock=clock, source=src, reader=NoPlates())
    agent.start()
    return agent, src


def run(agent, clock, seconds: float) -> None:  # noqa: ANN001
    for _ in range(int(round(seconds * FPS))):
        agent.step()
        clock.advance(1 / FPS)


def test_empty_bay_measured_fresh_and_confident_once_the_verdict_is_confirmed(tmp_path, clock):  # noqa: ANN001
    agent, src = agent_with(tmp_path, clock)
    v = agent.feed.vision("A")
    assert v is not None and v.measured_at is None and not v.confident  # nothing measured yet
    src.next = render(EMPTY)
    t0 = clock.monotonic()
    agent.step()
    v = agent.feed.vision("A")
    assert v.vision == "ok" and v.p_occupied < agent.cfg.occupancy.exit_p
    assert v.measured_at is None, "the start's first picture has no known age (a camera hung before it sends one)"
    assert not v.confident, "one classification is not a verdict (confirm_frames 2)"
    clock.advance(0.2)
    agent.step()  # a verdict under way is confirmed on the next frame, not at the periodic turn
    v = agent.feed.vision("A")
    assert v.measured_at == t0 + 0.2 and v.confident and v.vision == "ok" and v.occupied is False
    run(agent, clock, 3)  # nothing changes: the gate stays shut, yet every bay is re-classified each second
    assert clock.monotonic() - agent.feed.vision("A").measured_at < agent.cfg.occupancy.classify_every_s + 1 / FPS


def test_bay_outside_the_frame_has_no_mask(tmp_path, clock):  # noqa: ANN001
    """No camera size in the config, so check-config cannot see it: the monitor must."""
    bays = [{"id": "A", "polygon": [list(p) for p in BAYS["A"]]},
            {"id": "OUT", "polygon": [[2000, 100], [2400, 100], [2400, 400]]},  # the frame is 960 wide
            {"id": "HALF", "polygon": [[800, 100], [1300, 100], [1300, 300], [800, 300]]}]
    agent, src = agent_with(tmp_path, clock, camera={"width": None, "height": None}, bays=bays)
    src.next = render(EMPTY)
    run(agent, clock, 2)
    assert agent.bus.states()["OUT"].state == "free"  # what the bay machine says: "free" …
    assert agent.feed.vision("OUT").vision == "mask_empty"  # … but on no evidence at all
    assert agent.feed.vision("HALF").vision == "mask_outside_frame"
    assert agent.feed.vision("A").vision == "ok" and agent.feed.vision("A").confident


def test_nan_polygon_that_slipped_past_validation_has_no_mask(clock):  # noqa: ANN001
    """Defence in depth: config validation refuses NaN; a polygon built without it still reads mask_empty."""
    cfg = scene_config("/tmp/unused")
    nan = float("nan")
    bays = [*cfg.bays, BayConfig.model_construct(id="N", polygon=[(nan, nan)] * 4, charger_id=None, lock_id=None)]
    mon = BayMonitor(cfg.model_copy(update={"bays": bays}), EventBus(), clock, PlateLists(), feed=BayFeed())
    with pytest.warns(RuntimeWarning):  # numpy: NaN cast to int while rasterising
        mon.on_frame(render(EMPTY), None)
    assert mon.feed.vision("N").vision == "mask_empty" and mon.feed.vision("A").vision == "ok"


def test_a_car_appearing_makes_the_bay_unsure_at_once(tmp_path, clock):  # noqa: ANN001
    """Before any arrival is confirmed (confirm_frames, arrival_confirm_s) the evidence that the
    bay is empty is gone: the first frame with a car in it is enough."""
    from edge_agent.sim.scenario import NEV, Scene

    agent, src = agent_with(tmp_path, clock)
    src.next = render(EMPTY)
    run(agent, clock, 2)
    assert agent.feed.vision("A").confident
    src.next = render(Scene(cars=(NEV,)))
    agent.step()
    v = agent.feed.vision("A")
    assert v.p_occupied > agent.cfg.occupancy.enter_p and not v.confident
    assert agent.bus.states()["A"].state == "free"  # the bay story has not moved yet
    assert agent.feed.vision("B").confident


@pytest.mark.parametrize("frame, code", [(np.zeros((540, 960, 3), np.uint8), "camera_black"),
                                         (np.full((540, 960, 3), 128, np.uint8), "camera_flat")])
def test_unusable_frames_say_why_and_age(tmp_path, clock, frame, code):  # noqa: ANN001
    agent, src = agent_with(tmp_path, clock)
    src.next = render(EMPTY)
    run(agent, clock, 2)
    last = agent.feed.vision("A").measured_at
    src.next = frame
    agent.step()  # exactly: no noise on a black or grey fill
    v = agent.feed.vision("A")
    assert v.vision == code and not v.confident and v.measured_at == last


def test_camera_lost_says_so_and_the_measurement_ages(tmp_path, clock):  # noqa: ANN001
    agent, src = agent_with(tmp_path, clock)
    src.next = render(EMPTY)
    run(agent, clock, 2)
    last = agent.feed.vision("A").measured_at
    src.next = None  # frames stop
    run(agent, clock, 3)
    assert agent.feed.vision("A").vision == "ok" and agent.feed.vision("A").measured_at == last  # aging
    run(agent, clock, 3)  # past lost_after_s (5 s)
    assert agent.feed.vision("A").vision == "camera_lost" and agent.feed.vision("B").vision == "camera_lost"


def test_reload_starts_the_evidence_afresh(tmp_path, clock):  # noqa: ANN001
    import yaml

    from edge_agent.config.load import load_config

    path = tmp_path / "agent.yaml"
    data = {"site": {"site_id": "s", "device_id": "d"}, "camera": {"source": "x", "fps": FPS, "width": 960,
            "height": 540}, "bays": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()],
            "data_dir": str(tmp_path / "data")}
    path.write_text(yaml.safe_dump(data))
    src = Frames(clock)
    agent = Agent(load_config(path), clock=clock, source=src, reader=NoPlates())
    agent.start()
    src.next = render(EMPTY)
    run(agent, clock, 2)
    assert agent.feed.vision("B").measured_at is not None
    data["bays"][1]["polygon"][0][0] += 4
    path.write_text(yaml.safe_dump(data))
    assert agent.reload_config().ok
    assert agent.feed.vision("A").measured_at is None and agent.feed.vision("B").measured_at is None
    run(agent, clock, 1)
    assert agent.feed.vision("B").measured_at is not None


def test_a_redrawn_bay_keeps_its_locks_reported_position(tmp_path, clock):  # noqa: ANN001
    """A reload that redraws a locked bay builds its machine afresh; its lock did not move. The
    retained bay state said ``lock: "unknown"`` until the arm next moved — no value of
    bay-state.json, and a backend lost the arm's position."""
    import yaml

    from edge_agent.config.load import load_config
    from edge_agent.events.schemas import first_error
    from edge_agent.events.types import Event, EventType

    path = tmp_path / "agent.yaml"
    data = {"site": {"site_id": "s", "device_id": "d"}, "camera": {"source": "x", "fps": FPS, "width": 960,
            "height": 540}, "bays": [{"id": b, "polygon": [list(p) for p in poly], "lock_id": f"lock-{b}"}
                                     for b, poly in BAYS.items()],
            "locks": [{"id": f"lock-{b}", "driver": "simulator"} for b in BAYS], "data_dir": str(tmp_path / "data")}
    path.write_text(yaml.safe_dump(data))
    agent = Agent(load_config(path), clock=clock, source=Frames(clock), reader=NoPlates())
    agent.start()
    states = []
    agent.bus.subscribe_state(states.append)
    for b in BAYS:  # what the lock stage says at start-up
        agent.bus.publish(Event.make(EventType.LOCK_MOVED, clock, bay_id=b, data={"lock_id": f"lock-{b}", "state": "up"}))
    data["bays"][1]["polygon"][0][0] += 4
    path.write_text(yaml.safe_dump(data))
    assert agent.reload_config().ok
    agent.stop()
    assert {st.bay_id: st.lock for st in states} == dict.fromkeys(BAYS, "up")
    for st in states:
        assert first_error("bay-state.json", st.to_dict()) is None, st


def test_health_flat_frame(clock):  # noqa: ANN001
    h = HealthTracker(clock, lost_after_s=5, frozen_after_s=30, black_level=8, flat_level=2)
    assert h.on_frame(np.full((48, 64, 3), 200, np.uint8))
    assert h.health().reason == "flat"
    assert h.on_frame(np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    assert h.health().reason == "flat"  # back once good pictures came for lost_after_s (a flicker is one loss)
    clock.advance(5)
    assert h.on_frame(np.random.default_rng(2).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    assert h.health().ok


def test_feed_tells_watchers_only_what_is_new() -> None:
    """A newer measurement saying the same is no news (staleness is the reader's judgement);
    a change of code, occupancy or confidence is, at once."""
    from edge_agent.events.types import BayVision

    feed, heard = BayFeed(), []
    unsubscribe = feed.watch(heard.append)
    feed.publish_vision("A", BayVision(1.0, None, False, True, "ok"))
    feed.publish_vision("A", BayVision(1.2, None, False, True, "ok"))
    feed.publish_vision("A", BayVision(1.4, None, True, True, "ok"))
    feed.publish_vision("A", BayVision(1.4, None, True, False, "camera_black"))
    assert heard == ["A", "A", "A"]
    feed.reset_vision(["B"])  # a new monitor with bay B only: A is gone, B unmeasured
    assert feed.vision("A") is None and feed.vision("B").measured_at is None and heard[-2:] == ["A", "B"]
    unsubscribe()
    feed.publish_vision("B", BayVision(2.0, None, False, True, "ok"))
    assert heard == ["A", "A", "A", "A", "B"]


def glare_over(frame: np.ndarray, bay: str, value: int = 255) -> np.ndarray:
    """``frame`` with bay ``bay``'s polygon burnt out (sun glare, headlights), blacked out (a leaf on the lens) or
    grey (a smudge, a patch of fog)."""
    import cv2

    out = frame.copy()
    cv2.fillPoly(out, [np.array(BAYS[bay], np.int32)], (value, value, value))
    return out


@pytest.mark.parametrize("value", [255, 0, 140])
def test_an_empty_bay_the_camera_cannot_see_is_no_evidence(tmp_path, clock, value):  # noqa: ANN001
    """The shipped classifier calls a uniform crop empty (p 0.026): before, this bay stayed confidently empty
    and a lock could rise on it; the other bay and the frame as a whole are fine, so camera health says nothing."""
    agent, src = agent_with(tmp_path, clock)
    src.next = render(EMPTY)
    run(agent, clock, 2)
    assert agent.feed.vision("A").confident and agent.feed.vision("A").vision == "ok"
    src.next = glare_over(render(EMPTY), "A", value)
    run(agent, clock, 3)
    a, b = agent.feed.vision("A"), agent.feed.vision("B")
    assert a.vision in ("bay_flat", "bay_clipped") and (a.confident, a.p_occupied) == (False, None)
    assert b.vision == "ok" and b.confident
    assert clock.monotonic() - a.measured_at < agent.cfg.occupancy.classify_every_s + 1 / FPS  # looked: nothing
    assert agent.health.health().ok
    assert agent.health_figures().extra["bays_unseen"] == {"A": a.vision}  # the heartbeat tells the fleet
    src.next = render(EMPTY)  # the glare passes: judged as usual again
    run(agent, clock, 2)
    assert agent.feed.vision("A").vision == "ok" and agent.feed.vision("A").confident
    assert agent.health_figures().extra["bays_unseen"] == {}


def test_a_parked_car_in_a_patch_of_glare_does_not_leave(tmp_path, clock):  # noqa: ANN001
    """Glare over the lower two thirds of the bay (the car's roof still shows): before, the crop read empty, the
    visit ended with a false departure and the bay read free."""
    from edge_agent.sim.scenario import NEV, Scene

    agent, src = agent_with(tmp_path, clock)
    parked = render(Scene(cars=(NEV,)))
    src.next = parked
    run(agent, clock, 8)
    assert agent.bus.states()["A"].state != "free"
    visit = agent.bus.states()["A"].visit_id
    glared = parked.copy()
    glared[300:540, 0:480] = 255
    src.next = glared
    run(agent, clock, 30)  # far past departure_confirm_s (5 s)
    st = agent.bus.states()["A"]
    assert st.state != "free" and st.visit_id == visit
    assert agent.feed.vision("A").vision == "bay_clipped" and not agent.feed.vision("A").confident
    src.next = parked
    run(agent, clock, 3)
    assert agent.bus.states()["A"].visit_id == visit and agent.feed.vision("A").vision == "ok"


def test_a_bay_too_few_camera_pixels_across_vouches_for_no_empty_bay(tmp_path, clock, untold):  # noqa: ANN001
    """Bays drawn on the main stream, the camera switched to a quarter-size sub-stream (scaled back up to the
    bays' size): bay F, 28 px across as drawn, has 7 of the camera's pixels. On bays-dev's PKLot frames, parked
    cars start to read surely empty under 8 px, so F's view vouches for no empty bay (no lock rises), while it is
    still classified for occupancy. Before, F stayed "ok" and confident, as at full size. Bay G is drawn 7 px
    across: a bigger stream, read at the bays' size, gives it nothing more."""
    import cv2

    far = [(500.0, 250.0), (528.0, 250.0), (528.0, 290.0), (500.0, 290.0)]
    tiny = [(540.0, 250.0), (547.0, 250.0), (547.0, 290.0), (540.0, 290.0)]
    bays = [{"id": "A", "polygon": [list(p) for p in BAYS["A"]]}, {"id": "F", "polygon": [list(p) for p in far]},
            {"id": "G", "polygon": [list(p) for p in tiny]}]
    agent, src = agent_with(tmp_path, clock, bays=bays, locks=[])
    full = render(EMPTY)
    src.next = full
    run(agent, clock, 2)
    assert agent.feed.vision("F").vision == "ok" and agent.feed.vision("F").confident
    assert agent.feed.vision("G").vision == "bay_too_small"
    assert agent.health_figures().extra["bays_unseen"] == {"G": "bay_too_small"}

    src.next = cv2.resize(full, (240, 135), interpolation=cv2.INTER_AREA)  # the same view, a quarter the pixels
    run(agent, clock, 3)
    a, f = agent.feed.vision("A"), agent.feed.vision("F")
    assert a.vision == "ok" and a.confident  # 100 px across: seen
    assert f.vision == "bay_too_small"
    assert f.p_occupied is not None and clock.monotonic() - f.measured_at < agent.cfg.occupancy.classify_every_s + 1
    assert agent.health_figures().extra["bays_unseen"] == {"F": "bay_too_small", "G": "bay_too_small"}
    assert agent.health.health().ok

    src.next = cv2.resize(full, (1920, 1080))  # a bigger stream: back to the bays' own size, and no further
    run(agent, clock, 2)
    assert agent.feed.vision("F").vision == "ok" and agent.feed.vision("G").vision == "bay_too_small"
    assert agent.health_figures().extra["bays_unseen"] == {"G": "bay_too_small"}


class _TurnsAt:
    """A classifier that calls every bay empty, and bay A occupied from ``at`` on (monotonic): a reading that
    turns on pixels that do not move (a model unsure in the dark)."""

    def __init__(self, clock, at: float) -> None:  # noqa: ANN001
        self.clock, self.at = clock, at

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        late = self.clock.monotonic() >= self.at
        return {b: 0.95 if (b == "A" and late) else 0.05 for b in polygons}


@pytest.mark.parametrize("bay_grey", [6, 9, 60])
def test_a_still_dark_bay_is_no_motion(tmp_path, clock, bay_grey):  # noqa: ANN001
    """At night a bay out of the lamps' reach has a few grey levels, the frame as a whole enough not to be black.
    The change gate's light gain was the median of cur / (ref + 1): 6 / 7 = 0.86 for pixels that had not changed,
    under the 1 / 1.15 that counts as the bay turning darker than the scene, so every classification of such a
    still bay was "motion" (on a real PKLot frame dimmed to a mean grey of 8.5, with sensor noise: 393 of 2,580
    bay classifications; at 10.3: 71) and a reading that turned on still pixels was believed at once: an arrival
    nothing made. The gain is now (cur + 1) / (ref + 1), as the scene's light is followed: the reading is held."""
    import cv2

    frame = (render(EMPTY).astype(np.float32) * 0.15).astype(np.uint8)  # the frame's mean grey ~13
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.array(BAYS["A"], np.int32)], 1)
    bay = frame[mask > 0].astype(np.float32)
    frame[mask > 0] = np.clip(bay * (bay_grey / bay.mean()), 0, 255).astype(np.uint8)
    src = Frames(clock)
    t0 = clock.monotonic()
    agent = Agent(scene_config(str(tmp_path)), clock=clock, source=src, reader=NoPlates(),
                  classifier=_TurnsAt(clock, t0 + 10))
    agent.start()
    src.next = frame
    run(agent, clock, 60)
    assert agent.health.health().ok  # the camera is not black: the frame is judged
    assert agent.bus.states()["A"].state == "free"  # before: vehicle_arrived at 14 s
    assert agent.monitor._moved_at["A"] - t0 < 1.0  # the first look only (no reference yet)
    v = agent.monitor.verdicts()["A"]
    assert v.occupied is False and not v.confident  # held: no lock trusts bay A
