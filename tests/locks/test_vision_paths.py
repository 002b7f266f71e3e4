"""Every path to UP goes through the one interlock rule: the policy timer, a remote ``lock``
(MQTT / agent control) and a config reload. The real agent, the real bay monitor, simulated locks.

Bay OUT lies outside the camera's frame (no camera size configured, so check-config cannot tell):
its mask holds no pixel and the bay reads "free" for ever — as the probe's NaN bay did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from edge_agent.camera.source import Frame
from edge_agent.config.errors import ConfigError
from edge_agent.config.load import load_config
from edge_agent.events.types import EventType
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import BAYS, render
from tests.bays.test_vision import Frames, NoPlates

FPS = 5.0


def write(path: Path, data_dir: Path, a_shift: float = 0.0, out: bool = True, sensor: bool = True,
          masks: list | None = None, **occupancy: float) -> Path:
    """``out``: with bay OUT (its corners 2000 px from the view's middle: a turn of the view moves them furthest);
    ``sensor``: the simulated locks have a presence sensor (it never sees the rendered cars: a blind spell then
    reads them gone); ``masks``: the camera's ``masks``; ``occupancy``: keys of the config's ``occupancy`` section."""
    locks = ("LA", "LO") if out else ("LA",)
    cfg = {
        "site": {"site_id": "s", "device_id": "d"},
        "camera": {"source": "0", "fps": FPS},  # no size: polygons cannot be checked against it
        "bays": [{"id": "A", "polygon": [[x + a_shift, y] for x, y in BAYS["A"]], "lock_id": "LA"},
                 {"id": "OUT", "polygon": [[2000, 100], [2400, 100], [2400, 400]], "lock_id": "LO"}][:len(locks)],
        "timers": {"arrival_confirm_s": 2, "departure_confirm_s": 3},
        "locks": [{"id": lk, "driver": "simulator", "auto_raise_delay_s": 20,
                   "simulator": {"travel_time_s": 1.0, "start": "down", "presence": sensor}} for lk in locks],
        "data_dir": str(data_dir),
    }
    if occupancy:
        cfg["occupancy"] = occupancy
    if masks:
        cfg["camera"]["masks"] = masks
    path.write_text(yaml.safe_dump(cfg))
    return path


def watch_free(controller, run: Callable[[float], None], fresh: Callable[[float], None], dt: float) -> None:  # noqa: ANN001
    """Let ``controller``'s lock see its bay empty, confidently, for ``auto_raise_delay_s`` on end — what every raise
    needs, a remote ``lock`` too (probe review74) — so that a test's command may raise its arm.

    ``run(dt)``: one frame of the real agent and the locks' tick, as the test's own loop runs them (the camera must
    show the bay empty, and vouch for it now); up to the instant the wait ends (the controller's ``free_since``, or a
    tamper's time, plus the delay); ``fresh(s)``: ``s`` seconds on and a fresh frame measured, the test's command
    coming then, before that instant's lock tick, so the policy's own raise, due at the same instant, does not
    answer for it. Nothing is waited where nothing is owed."""
    held = controller.il.vehicle_possible()
    assert held is None, f"watch_free: the camera must vouch for the empty bay ({held})"
    for _ in range(int(2 * 600 / dt)):  # auto_raise_delay_s's bound, twice
        left = controller._unwatched_left()
        if left is None:
            return
        if left > dt + 1e-6:
            run(dt)
        else:
            fresh(left + 1e-6)  # the last stretch: a fresh frame, the command before the tick
    raise AssertionError("watch_free: the wait never ended")


class Rig:
    """The real agent with simulated locks on ``src``; ``events`` collects the bus; ``run`` steps both loops."""

    def __init__(self, tmp_path: Path, clock, src, classifier=None, out: bool = True,  # noqa: ANN001
                 sensor: bool = True, masks: list | None = None, **occupancy: float) -> None:
        self.clock, self.src = clock, src
        self.path = write(tmp_path / "agent.yaml", tmp_path / "data", out=out, sensor=sensor, masks=masks,
                          **occupancy)
        self.agent = Agent(load_config(self.path), clock=clock, source=src, reader=NoPlates(),
                           **({"classifier": classifier} if classifier is not None else {}))
        self.manager = attach_locks(self.agent, thread=False)
        self.events: list = []
        self.agent.bus.subscribe(self.events.append)
        self.agent.start()

    def run(self, seconds: float, check=None) -> None:  # noqa: ANN001
        for _ in range(int(round(seconds * FPS))):
            self.agent.step()
            self.manager.tick()
            if check is not None:
                check()
            self.clock.advance(1 / FPS)

    def watch_free(self, bay: str = "A") -> None:
        """``watch_free`` on this rig's frames: the camera keeps sending live frames of what ``src`` shows."""
        def fresh(seconds: float) -> None:
            self.clock.advance(seconds)
            self.agent.step()

        watch_free(self.manager._unit(bay).controller, self.run, fresh, 1 / FPS)

    def assert_unvouched(self, bay: str, code: str) -> None:
        """``bay`` is still classified but its view vouches for no empty bay (``code``) while the camera as a whole
        is fine: the heartbeat names it alone, and a remote ``lock`` is refused with that code."""
        v = self.agent.feed.vision(bay)
        assert v.vision == code and v.p_occupied is not None, v
        assert self.agent.health.health().ok
        assert self.agent.health_figures().extra["bays_unseen"] == {bay: code}
        res = self.agent.lock(bay, "close the bay", "ops")
        assert not res.ok and res.data["code"] == code, res


def _never_up(manager, why: str) -> None:  # noqa: ANN001
    assert manager.driver("A").arm.drive != "up", why


def test_every_path_to_up_needs_trustworthy_vision(tmp_path, clock):  # noqa: ANN001
    rig = Rig(tmp_path, clock, Frames(clock))
    agent, manager, src, events, path = rig.agent, rig.manager, rig.src, rig.events, rig.path

    def run(seconds: float) -> None:
        def never_up_blind() -> None:
            assert not (manager.driver("OUT").arm.drive == "up"), "UP driven on a bay the camera cannot see"
        rig.run(seconds, never_up_blind)

    try:
        src.next = render(EMPTY)
        run(40)
        # the policy timer: A (seen, free 20 s) rises; OUT (no pixel of it seen) never does
        assert manager.state("A") == "up" and manager.state("OUT") == "down"
        # a remote lock (what the MQTT `lock` command calls) is refused with the reason
        res = agent.lock("OUT", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "mask_empty", res
        # camera black: A is lowered for a visitor, and a remote lock cannot raise it blind
        assert agent.unlock("A", "visitor", "ops").ok
        run(2)
        src.next = np.zeros((540, 960, 3), np.uint8)
        run(1)
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "camera_black", res
        run(130)  # past admit_window_s (120 s): the policy wants A up, but the camera is blind
        assert manager.state("A") == "down"
        src.next = render(EMPTY)
        run(2)  # good pictures again, not yet for camera.lost_after_s (5 s): not back, A stays down
        assert manager.state("A") == "down"
        run(5)  # the camera is back, the admit window long over, but A seen free only since it came back
        assert manager.state("A") == "down"  # (until probe occ37 it rose here, on 2 s of sight after 130 s blind)
        run(20)  # seen free for auto_raise_delay_s (20 s) since: the policy raises A now
        assert manager.state("A") == "up"
        assert agent.unlock("A", "visitor", "ops").ok
        run(2)
        assert manager.state("A") == "down"
        # a reload that changes bays: the new monitor has measured nothing yet (A, redrawn, reads unknown)
        write(path, tmp_path / "data", a_shift=3)
        assert agent.reload_config().ok
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "bay_unknown", res
        run(1)
        rig.watch_free("A")  # measured again, empty, confident, for auto_raise_delay_s: UP
        assert agent.lock("A", "close the bay", "ops").ok
        run(2)
        assert manager.state("A") == "up" and manager.state("OUT") == "down"
        refused = [(e.bay_id, e.data["code"], e.data.get("operator")) for e in events if e.type == EventType.LOCK_REFUSED]
        # OUT's held raise is said once by the policy (a lock that can never rise, no longer silent), then the remote
        # commands' refusals; A's blind spell past the admit window is said by the policy too: a command's answer does
        # not stand for the policy's word (until probe locks40 it did, and a backend's last word was the command's)
        assert refused == [("OUT", "mask_empty", None), ("OUT", "mask_empty", "ops"), ("A", "camera_black", "ops"),
                           ("A", "camera_black", None), ("A", "bay_unknown", "ops")], refused
        assert manager.driver("OUT").arm.position == 0.0
    finally:
        agent.stop()


def test_remote_lock_refused_while_a_car_pulls_in(tmp_path, clock):  # noqa: ANN001
    """Within arrival_confirm_s the bay state still says "free"; the camera already sees the car."""
    from edge_agent.sim.scenario import NEV, Scene

    path = write(tmp_path / "agent.yaml", tmp_path / "data")
    src = Frames(clock)
    agent = Agent(load_config(path), clock=clock, source=src, reader=NoPlates())
    manager = attach_locks(agent, thread=False)
    agent.start()
    try:
        src.next = render(EMPTY)
        for _ in range(10):
            agent.step()
            manager.tick()
            clock.advance(1 / FPS)
        src.next = render(Scene(cars=(NEV,)))  # NEV parks in bay A
        agent.step()
        assert agent.bus.states()["A"].state == "free"  # arrival not confirmed yet (2 s)
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "vision_occupied", res
        assert manager.driver("A").arm.drive is None
    finally:
        agent.stop()


class _Band:
    """Bay A reads ``p`` (in the band between exit_p and enter_p: an empty bay at night the model half takes for a
    car, a parked car at dawn) from the start; every other bay reads empty."""

    def __init__(self, p: float) -> None:
        self.p = p

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        return {b: self.p if b == "A" else 0.05 for b in polygons}


@pytest.mark.parametrize("p", [0.4, 0.6])
def test_a_bay_without_a_first_verdict_raises_no_arm(tmp_path, clock, p):  # noqa: ANN001
    """A bay whose readings stay in the band from the start has no verdict: presence unknown, the bay ``unknown``.
    No path to UP may take that for an empty bay (the policy timer, a remote lock), however long it lasts."""
    rig = Rig(tmp_path, clock, Frames(clock), _Band(p), out=False)
    agent, manager = rig.agent, rig.manager
    try:
        rig.src.next = render(EMPTY)
        rig.run(150, lambda: _never_up(manager, "UP driven on a bay with no verdict"))  # past admit_window_s
        assert agent.monitor.verdicts()["A"].occupied is None and agent.bus.states()["A"].state == "unknown"
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "bay_unknown", res
        assert manager.state("A") == "down"
    finally:
        agent.stop()


class Freezable(Frames):
    """A camera that can start repeating one frame exactly (a hung encoder or capture buffer)."""

    frozen: np.ndarray | None = None
    _hung = False

    def latest(self):  # noqa: ANN201 - Frame | None
        if self.frozen is None:
            if self._hung:  # back from the hang: the sensor's noise is new (no frame sent before the hang again)
                self._hung, self.seed, self._noisy = False, self.seed + 1, None
            return super().latest()
        self._hung = True
        self.seq += 1
        return Frame(self.frozen, self.seq, self.clock.monotonic())


def test_a_camera_repeating_one_frame_is_no_fresh_evidence(tmp_path, clock):  # noqa: ANN001
    """The picture is as old as its first arrival. A frozen camera is reported only after frozen_after_s (30 s),
    and meanwhile every re-classification of the same picture counted as a fresh measurement: a remote lock 12 s
    into a freeze — time enough for a car to park unseen — answered "raising"."""
    rig = Rig(tmp_path, clock, Freezable(clock))
    agent, manager, src, run = rig.agent, rig.manager, rig.src, rig.run

    try:
        src.next = render(EMPTY)
        run(10)
        frame = src.latest()
        assert frame is not None
        src.frozen = frame.image  # from now on the camera sends this very picture again and again
        run(2)
        assert agent.health.health().ok  # not "frozen" yet: that takes camera.frozen_after_s
        assert manager.state("A") == "down"
        run(10)
        assert agent.health.health().ok
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_stale", res
        assert manager.driver("A").arm.drive is None
        src.frozen = None  # live frames again: the evidence is fresh and the lock rises
        run(1)
        assert agent.lock("A", "close the bay", "ops").ok
    finally:
        agent.stop()


class LongKeyFrames(Frames):
    """A live camera whose encoder codes a still scene as a key frame every ``key_every_s`` and, between them,
    P-frames with nothing to code: the decoded frames stay bit-identical until the next key frame, whose sensor
    noise differs ("smart" codecs stretch the key-frame interval on a still scene)."""

    key_every_s = 5.0
    _key: tuple[int, np.ndarray] | None = None

    def latest(self):  # noqa: ANN201 - Frame | None
        if self.next is None:
            return None
        self.seq += 1
        key = int(self.clock.monotonic() // self.key_every_s)
        if self._key is None or self._key[0] != key:  # the key frame's sensor noise, over the whole picture
            noise = np.random.default_rng(key).integers(-2, 3, self.next.shape)
            self._key = (key, np.clip(self.next.astype(np.int16) + noise, 0, 255).astype(np.uint8))
        return Frame(self._key[1].copy(), self.seq, self.clock.monotonic())


def test_a_still_scene_with_long_key_frame_intervals_still_raises(tmp_path, clock):  # noqa: ANN001
    """Between key frames the repeated picture is no fresh evidence (UP refused ``occupancy_stale``), but it is no
    evidence of a vehicle either: it must not restart the free timer. It did, 3 s into each repeat, so with key
    frames 5 s apart the bay was never free for auto_raise_delay_s: the arm stayed down for good, and nothing said
    so (the policy never asked, so no ``lock_refused``)."""
    rig = Rig(tmp_path, clock, LongKeyFrames(clock))
    agent, manager, src, events, run = rig.agent, rig.manager, rig.src, rig.events, rig.run

    try:
        src.next = render(EMPTY)
        run(120)
        assert agent.health.health().ok  # never frozen: a new key frame every 5 s
        assert manager.state("A") == "up", [e.data for e in events if e.type == EventType.LOCK_REFUSED]
    finally:
        agent.stop()


def test_no_lock_rises_while_the_camera_is_moved_and_it_may_once_the_view_is_back(tmp_path, clock):  # noqa: ANN001
    """A camera knocked 3° about its top-left corner (bay A's corners off by 25–45 px, beyond the tolerance) is no
    evidence about any bay: neither the policy's timer nor a remote ``lock`` raises A until the view is back.
    Before, such a turn read as no shift at all (the top-left pixel did not move) and A rose on the turned view."""
    import cv2

    rig = Rig(tmp_path, clock, Frames(clock))
    agent, manager, src, events = rig.agent, rig.manager, rig.src, rig.events
    empty = render(EMPTY)
    h, w = empty.shape[:2]
    knocked = cv2.warpAffine(empty, cv2.getRotationMatrix2D((0.0, 0.0), 3.0, 1.0), (w, h),
                             borderMode=cv2.BORDER_REPLICATE)
    try:
        src.next = empty
        rig.run(3)  # the reference view is taken, A measured empty
        def never_up() -> None:
            assert manager.driver("A").arm.drive != "up", "UP driven while the camera is moved"

        src.next = knocked
        rig.run(40, never_up)
        assert any(e.type == EventType.CAMERA_MOVED for e in events)
        assert manager.state("A") == "down"
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok, res
        src.next = empty  # the mount is put back: aligned, A is seen empty again, the policy raises it
        rig.run(30)
        assert any(e.type == EventType.CAMERA_ALIGNED for e in events) and manager.state("A") == "up"
    finally:
        agent.stop()


def _zoom_slipped(img: np.ndarray) -> np.ndarray:
    """The view with its zoom slipped 3x towards the far right (or the camera tipped at the asphalt there): a view
    that matches nothing of the reference, so registration measures no shift at all; bay A's outline now lies on
    plain asphalt."""
    import cv2

    return cv2.warpAffine(img, cv2.getRotationMatrix2D((800.0, 100.0), 0.0, 3.0), (img.shape[1], img.shape[0]),
                          borderMode=cv2.BORDER_REPLICATE)


def test_a_view_that_matches_nothing_vouches_for_no_empty_bay(tmp_path, clock):  # noqa: ANN001
    """Registration reads a view it cannot match (too few agreeing corners) as no measurement, and the bays stayed
    trusted: with the zoom slipped 3x, bay A's outline lies on plain asphalt, the classifier calls it empty
    (p 0.08, confident), and the policy raised A 20 s later; a remote ``lock`` answered "raising". Now such a view
    is ``camera_unmatched`` for the locks until a view matches again."""
    rig = Rig(tmp_path, clock, Frames(clock))
    agent, manager, src, events = rig.agent, rig.manager, rig.src, rig.events
    empty = render(EMPTY)
    try:
        src.next = empty
        rig.run(3)  # the reference view is taken, A measured empty

        def never_up() -> None:
            assert manager.driver("A").arm.drive != "up", "UP driven on a view that matches nothing"

        src.next = _zoom_slipped(empty)
        rig.run(40, never_up)
        assert manager.state("A") == "down"
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "camera_unmatched", res
        assert any(e.type == EventType.LOCK_REFUSED and e.data["code"] == "camera_unmatched" for e in events)
        # the heartbeat says why, as the refusal does: the camera itself reads healthy (before: `{}`, camera_ok)
        beat = agent.health_figures()
        assert beat.camera_ok and beat.extra["bays_unseen"] == dict.fromkeys(agent.bay_ids(), "camera_unmatched")
        src.next = empty  # the zoom is set back: the view matches, A is seen empty again, the policy raises it
        rig.run(30)
        assert manager.state("A") == "up"
        # OUT, whose outline lies off the frame, stays named (before: never, though its lock never rises either)
        assert agent.health_figures().extra["bays_unseen"] == {"OUT": "mask_empty"}
    finally:
        agent.stop()


def test_a_view_that_matches_nothing_raises_no_arm_under_a_parked_car(tmp_path, clock):  # noqa: ANN001
    """The harm: an NEV parked in A with the arm down; the camera's zoom slips and A's outline shows asphalt. The
    bay's story ends (A reads p 0.08: a departure), and 20 s later the policy raised the arm under the car."""
    from edge_agent.sim.scenario import NEV, Scene

    rig = Rig(tmp_path, clock, Frames(clock))
    manager, src = rig.manager, rig.src
    parked = render(Scene(cars=(NEV,)))
    try:
        src.next = parked
        rig.run(5)
        assert manager.state("A") == "down"

        def never_up() -> None:
            assert manager.driver("A").arm.drive != "up", "UP driven under the parked car"

        src.next = _zoom_slipped(parked)
        rig.run(60, never_up)
        assert manager.state("A") == "down"
    finally:
        rig.agent.stop()


class _MisreadsFrom:
    """The real model's costly mistake on a car that stands still: bay A reads occupied, then, from ``at`` on
    (monotonic), empty (shade over the car, dusk on it). The still-bay rule holds such a turn for
    ``still_confirm_s`` (nothing moved in the bay): not confident, no lock trusts it."""

    def __init__(self, clock, at: float) -> None:  # noqa: ANN001
        self.clock, self.at = clock, at

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        late = self.clock.monotonic() >= self.at
        return {b: 0.05 if (late or b != "A") else 0.95 for b in polygons}


def _misread_parked(tmp_path, clock, **rig_kw):  # noqa: ANN001, ANN003, ANN202
    """A rig whose model reads the parked NEV in A as empty from 10 s on (nothing moving there), the parked
    picture, and a ``run(seconds)`` that fails the moment the UP line is driven under the car."""
    from edge_agent.sim.scenario import NEV, Scene

    parked = render(Scene(cars=(NEV,)))
    rig = Rig(tmp_path, clock, Frames(clock), _MisreadsFrom(clock, clock.monotonic() + 10), out=False, **rig_kw)

    def run(seconds: float) -> None:
        rig.run(seconds, lambda: _never_up(rig.manager, "UP driven under the parked car"))

    return rig, parked, run


def _still_held(rig) -> None:  # noqa: ANN001
    """No departure, A still occupied (not confidently: the misread is held by the still-bay rule), arm down."""
    assert not any(e.type == EventType.VEHICLE_DEPARTED for e in rig.events)
    v = rig.agent.monitor.verdicts()["A"]
    assert v.occupied is True and not v.confident
    assert rig.manager.state("A") == "down"


@pytest.mark.parametrize("turn, zoom, sway_px", [(0.0, 1.0, 0.0), (0.0, 1.0, 3.0), (0.0, 1.0, 10.0),
                                                  (1.0, 1.0, 0.0), (0.0, 1.03, 0.0)])
def test_bays_following_a_small_sway_is_no_motion_in_them(tmp_path, clock, turn, zoom, sway_px):  # noqa: ANN001
    """The camera sways 3–10 px (wind on the pole), turns 1° or zooms 3 %, within the tolerance: the bays follow the
    view, and each bay's change gate started over on its moved outline with no reference, which counted as motion
    in every bay. So the reading that had turned on the still parked car was believed at once: a departure, and
    the policy raised A's arm under the car 20 s later. Following the view is the camera's motion, not the bay's:
    the gate's reference follows the view too, and the turn stays held."""
    import cv2

    rig, parked, run = _misread_parked(tmp_path, clock)
    agent, src = rig.agent, rig.src
    try:
        src.next = parked
        run(12)  # A occupied; from 10 s the model reads it empty, with nothing moving there
        h, w = parked.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), turn, zoom)
        m[0, 2] += sway_px
        src.next = cv2.warpAffine(parked, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        run(60)
        if (turn, zoom, sway_px) != (0.0, 1.0, 0.0):  # the bays did follow the view
            assert agent.monitor.warp != ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)) and agent.camera.alignment.ok
        _still_held(rig)
    finally:
        agent.stop()


@pytest.mark.parametrize("how", ["confirmed", "camera_size_reloaded"])
def test_a_view_at_another_frame_size_is_no_motion_in_its_bays(tmp_path, clock, how):  # noqa: ANN001
    """The camera comes back from a reconnect sending 4:3 frames (720x540 for the bays' 960x540): the bays are
    blind (``camera_moved``, ``frame_size``) until the installer confirms the view — or someone sets
    ``camera.width`` / ``height`` to the new size and reloads. The change gate, finding frames of another size,
    dropped every bay's reference, which read as all changed: motion in each, so the reading that had turned on the
    still parked car was believed at once — a departure 3 s later and the arm raised under the car 20 s after that.
    A reference lost to a new frame size says nothing moved: the turn stays held, as after a redraw."""
    import cv2

    rig, parked, run = _misread_parked(tmp_path, clock, sensor=False)
    agent, src = rig.agent, rig.src
    try:
        src.next = parked
        run(12)  # A occupied; from 10 s the model reads it empty, with nothing moving there
        h, w = parked.shape[:2]
        src.next = cv2.resize(parked, (w * 3 // 4, h))
        run(5)
        assert agent.camera_moved
        if how == "confirmed":
            assert agent.confirm_camera().ok
        else:
            data = yaml.safe_load(rig.path.read_text())
            data["camera"].update(width=w * 3 // 4, height=h)
            rig.path.write_text(yaml.safe_dump(data))
            assert agent.reload_config().ok
        run(60)
        assert not agent.camera_moved
        _still_held(rig)
    finally:
        agent.stop()


class _UnsureAfter:
    """Bay A reads a car (0.95) until ``at`` (monotonic), then 0.4: the empty bay's stain or shadow the model is
    not sure of — in the band between exit_p and enter_p for good. Every other bay reads empty."""

    def __init__(self, clock, at: float) -> None:  # noqa: ANN001
        self.clock, self.at = clock, at

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        late = self.clock.monotonic() >= self.at
        return {b: (0.4 if late else 0.95) if b == "A" else 0.05 for b in polygons}


def test_a_bay_left_in_doubt_ends_its_visit_but_raises_no_arm(tmp_path, clock):  # noqa: ANN001
    """The car drives off; the bay reads 0.4 from then on. The visit stayed open for ever (no departure, an
    unidentified violation on bare asphalt, every later visit missed). Now it ends ``doubt_confirm_s`` (here 120 s)
    after the readings leaned to empty, plus the departure's confirmation; the verdict is not confident, so the
    policy and a remote lock alike leave the arm down."""
    from edge_agent.sim.scenario import NEV, Scene

    rig = Rig(tmp_path, clock, Frames(clock), _UnsureAfter(clock, clock.monotonic() + 10), out=False, doubt_confirm_s=120)
    agent, manager, src, events = rig.agent, rig.manager, rig.src, rig.events

    def run(seconds: float) -> None:
        rig.run(seconds, lambda: _never_up(manager, "UP driven on a bay the camera is not sure of"))

    try:
        src.next = render(Scene(cars=(NEV,)))
        run(10)
        src.next = render(EMPTY)  # it drives off: the bay moves
        left, after = clock.monotonic(), None
        for _ in range(160):
            run(1)
            departed = [e for e in events if e.type == EventType.VEHICLE_DEPARTED and e.bay_id == "A"]
            if departed and after is None:
                after = clock.monotonic() - left
        assert len(departed) == 1 and after is not None and 120 <= after <= 128, after
        res = agent.lock("A", "close the bay", "ops")
        assert not res.ok and res.data["code"] == "occupancy_unsure", res
        run(40)  # past auto_raise_delay_s (20 s): the policy wants A up, the interlock does not trust "empty"
        assert manager.state("A") == "down"
    finally:
        agent.stop()


class _Misread:
    """Bay A reads a parked car (0.95) but for ``once``: the next classification only (the classifier's costly
    mistake, docs/locks.md "Camera-only locks")."""

    def __init__(self) -> None:
        self.once: float | None = None

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        p, self.once = (0.95 if self.once is None else self.once), None
        return dict.fromkeys(polygons, p)


@pytest.mark.parametrize("confirm_frames", [1, 2])
def test_no_raise_rests_on_one_reading(tmp_path, clock, confirm_frames):  # noqa: ANN001
    """``occupancy.confirm_frames`` 1, ``still_confirm_s`` 0 and ``timers.departure_confirm_s`` 0 were each allowed:
    one reading of 0.05 in a parked car's bay ended its visit at once, the bay read free, and a remote ``lock``
    answered "raising" over the car. With locks, ``confirm_frames`` 1 is refused at load; at 2 (the least) the
    same misread changes nothing."""
    path = write(tmp_path / "agent.yaml", tmp_path / "data", out=False, sensor=False, confirm_frames=confirm_frames,
                 still_confirm_s=0)
    cfg = yaml.safe_load(path.read_text())
    cfg["timers"]["departure_confirm_s"] = 0
    path.write_text(yaml.safe_dump(cfg))
    if confirm_frames == 1:
        with pytest.raises(ConfigError) as refused:
            load_config(path)
        assert refused.value.problems == ["occupancy.confirm_frames: 1 with locks: a bay's verdict, and with it a "
                                          "lock's raise, would rest on one classification (needs ≥ 2)"]
        return
    misread = _Misread()
    agent = Agent(load_config(path), clock=clock, source=Frames(clock), reader=NoPlates(), classifier=misread)
    manager = attach_locks(agent, thread=False)
    agent.start()

    def run(seconds: float) -> None:
        for _ in range(round(seconds * FPS)):
            agent.step()
            manager.tick()
            clock.advance(1 / FPS)

    try:
        agent.source.next = render(EMPTY)  # what the frames show does not matter: the classifier says a car
        run(30)
        assert agent.bus.states()["A"].state == "occupied" and manager.state("A") == "down"
        misread.once = 0.05
        for _ in range(10):  # a lock at every frame of the next 2 s
            run(0.2)
            res = agent.lock("A", "close the bay", "ops")
            assert not res.ok and res.data["code"] == "bay_occupied", res
        assert agent.bus.states()["A"].state == "occupied" and manager.state("A") == "down"
    finally:
        agent.stop()
