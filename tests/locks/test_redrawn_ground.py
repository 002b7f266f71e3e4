"""A bay redrawn off a parked car: its arm waits until the ground the car stood on is seen empty (``old_ground``).

The real agent on the rendered test lot (the shipped classifier, no plate reader, an injected clock), bay A's lock
on the simulator without a presence sensor: the camera is the only evidence, as on most sites.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import yaml

from edge_agent.config.load import load_config
from edge_agent.events.types import EventType
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.runtime.models import default_classifier
from edge_agent.sim.scenario import EMPTY, NEV, Person, Scene
from edge_agent.sim.synthetic import BAYS, render
from tests.bays.test_vision import NoPlates
from tests.locks.test_unvouched import _Misreads
from tests.locks.test_vision_paths import Frames, write
from tests.locks.test_vision_paths import Rig as AgentRig

PARKED = Scene(cars=(NEV,))


class Lot:
    """The rig with A's outline editable and every instant the UP line was driven recorded."""

    def __init__(self, tmp_path, clock, misreads: bool = False) -> None:  # noqa: ANN001
        """``misreads``: the shipped model wrapped in ``_Misreads`` (``self.model.at``: when A starts to read 0.05)."""
        self.model = None
        if misreads:
            cfg = load_config(write(tmp_path / "agent.yaml", tmp_path / "data", out=False, sensor=False))
            self.model = _Misreads(default_classifier(cfg), clock)
        self.rig = AgentRig(tmp_path, clock, Frames(clock), classifier=self.model, out=False, sensor=False)
        self.agent, self.manager, self.src, self.events = (self.rig.agent, self.rig.manager, self.rig.src,
                                                           self.rig.events)
        self.clock = clock
        self.ups: list[float] = []

    def run(self, seconds: float, scene: Scene | None = None) -> None:
        if scene is not None:
            self.src.next = render(scene)

        def note() -> None:
            if self.manager.driver("A").arm.drive == "up":
                self.ups.append(self.clock.monotonic())
        self.rig.run(seconds, note)

    def redraw(self, polygon) -> None:  # noqa: ANN001
        """The installer's Save of A's outline (the page rewrites the config and reloads the agent)."""
        data = yaml.safe_load(self.rig.path.read_text())
        data["bays"][0]["polygon"] = [[float(x), float(y)] for x, y in polygon]
        self.rig.path.write_text(yaml.safe_dump(data))
        assert self.agent.reload_config().ok

    def walk_across(self, xs, cars=PARKED.cars) -> None:  # noqa: ANN001
        for x in xs:
            self.run(0.6, Scene(cars=cars, people=(Person(x),)))

    def drive_off(self) -> None:
        for x in (200, 120, 20, -80):
            self.run(0.4, Scene(cars=(dataclasses.replace(NEV, x=x),)))
        self.run(1, EMPTY)


def test_a_bay_redrawn_off_a_parked_car_raises_no_arm_until_the_car_leaves(tmp_path, clock):
    """An NEV parked in A, its arm down; the installer drags A's outline onto the empty ground beside it. Before:
    the new outline read empty, the visit "departed" after still_confirm_s (held, not confident), a passer-by's
    motion through the new outline made the "empty" confident, and the policy raised the arm 20 s later under the
    car, which had never moved. Now the arm waits for the old outline's ground: it rises only after the car drives
    off."""
    lot = Lot(tmp_path, clock)
    try:
        lot.run(10, PARKED)
        assert lot.manager.state("A") == "down"
        lot.redraw(BAYS["B"])  # the next bay's ground, empty
        lot.run(320)  # past still_confirm_s (300 s): the new outline's "empty" is held no longer
        assert any(e.type == EventType.VEHICLE_DEPARTED and e.bay_id == "A" for e in lot.events)
        lot.walk_across((560, 640, 720, 800, 880))  # motion through the new outline
        lot.run(60, PARKED)
        # the passer-by left the new outline as it was: its still "empty" stays unconfident (wet100) …
        assert not lot.agent.monitor.verdicts()["A"].confident
        assert not lot.ups and lot.manager.state("A") == "down"  # … and the arm stays down under the car
        assert lot.agent.bays_unseen() == {"A": "bay_redrawn"}
        refused = lot.agent.lock("A", "close the bay", "ops")
        assert not refused.ok and refused.data["code"] == "bay_redrawn", refused
        lot.drive_off()  # the car leaves the old ground
        lot.run(30, EMPTY)
        assert lot.agent.bays_unseen() == {}
        assert lot.ups and lot.manager.state("A") == "up"  # the policy raises the arm once it is seen gone
    finally:
        lot.agent.stop()


@pytest.mark.parametrize("brightness", [1.0, 0.6], ids=["same_light", "dusk"])
def test_the_old_ground_of_a_still_car_is_not_let_go_by_time_or_light(tmp_path, clock, brightness):
    """The car stays: neither time (past still_confirm_s) nor the light falling over the lot, nor a passer-by,
    lets the old ground go."""
    lot = Lot(tmp_path, clock)
    try:
        lot.run(10, PARKED)
        lot.redraw(BAYS["B"])
        lot.run(30, PARKED)
        lot.run(300, dataclasses.replace(PARKED, brightness=brightness))
        lot.walk_across((160, 250, 340, 560, 720, 880))  # in front of the car and through the new outline
        lot.run(60, dataclasses.replace(PARKED, brightness=brightness))
        assert not lot.ups and lot.agent.bays_unseen() == {"A": "bay_redrawn"}
    finally:
        lot.agent.stop()


def test_an_outline_drawn_back_onto_the_car_or_redrawn_on_an_empty_bay_waits_for_nothing(tmp_path, clock):
    """The rule costs nothing where nothing was left behind: an outline dragged away and back over the parked car
    is the bay's own again (its readings cover that ground), and a bay redrawn while empty has no old ground."""
    lot = Lot(tmp_path, clock)
    try:
        lot.run(10, PARKED)
        lot.redraw(BAYS["B"])
        lot.run(2, PARKED)
        assert lot.agent.bays_unseen() == {"A": "bay_redrawn"}
        lot.redraw(BAYS["A"])  # back where it was
        lot.run(2, PARKED)
        assert lot.agent.bays_unseen() == {}
        lot.drive_off()
        lot.run(40, EMPTY)
        assert lot.manager.state("A") == "up"
        lot.redraw([(x + 6, y) for x, y in BAYS["A"]])  # nudged while empty: nothing stood there
        lot.run(2, EMPTY)
        assert lot.agent.bays_unseen() == {}
    finally:
        lot.agent.stop()


class Run:
    """One run of the agent on the lot's data dir, wired as ``run`` wires it for this: the locks, and the violation
    log's recorder, which ends at the start what the previous run left open (``agent_stopped``)."""

    def __init__(self, path, clock) -> None:  # noqa: ANN001
        self.clock, self.src = clock, Frames(clock)
        cfg = load_config(path)
        self.agent = Agent(cfg, clock=clock, source=self.src, reader=NoPlates())
        self.manager = attach_locks(self.agent, thread=False)
        recorder = self.agent.add_component(ViolationRecorder(self.agent.evidence.db_path, clock, self.agent.bus))
        self.agent.on_started.append(recorder.close_previous_run)
        self.agent.every_minute.append(recorder.mark_alive)
        self.ups: list[float] = []
        self.agent.start()

    def run(self, seconds: float, scene: Scene | None = None) -> None:
        if scene is not None:
            self.src.next = render(scene)
        for _ in range(int(round(seconds * 5))):
            self.agent.step()
            self.manager.tick()
            if self.manager.driver("A").arm.drive == "up":
                self.ups.append(self.clock.monotonic())
            self.clock.advance(0.2)

    def drive_off(self) -> None:
        for x in (200, 120, 20, -80):
            self.run(0.4, Scene(cars=(dataclasses.replace(NEV, x=x),)))
        self.run(1, EMPTY)


def _set_a(path, polygon) -> None:  # noqa: ANN001
    data = yaml.safe_load(path.read_text())
    data["bays"][0]["polygon"] = [[float(x), float(y)] for x, y in polygon]
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("how", ["edited_while_stopped", "redrawn_then_restarted"])
def test_a_restart_keeps_the_arm_down_over_the_ground_the_last_run_left_a_car_on(tmp_path, clock, how):
    """The NEV stays parked in A over a restart. ``edited_while_stopped``: the installer (or a fleet's config push)
    moved A's outline onto the empty ground beside it while the agent was stopped. ``redrawn_then_restarted``: the
    page's Save moved it in the last run, which then restarted (an update). Before: the new run knew nothing of the
    car, the new outline read empty at its first look ("free"), and the policy raised the arm under the car 20 s
    later. Now it waits for the ground the last run left the car on, and rises once the car has driven off."""
    path = write(tmp_path / "agent.yaml", tmp_path / "data", out=False, sensor=False)
    first = Run(path, clock)
    first.run(10, PARKED)
    if how == "redrawn_then_restarted":
        _set_a(path, BAYS["B"])
        assert first.agent.reload_config().ok
        first.run(5, PARKED)
    first.agent.stop()
    if how == "edited_while_stopped":
        _set_a(path, BAYS["B"])
    clock.advance(120)
    run = Run(path, clock)
    try:
        run.run(90, PARKED)
        assert not run.ups and run.manager.state("A") == "down"
        assert run.agent.bays_unseen() == {"A": "bay_redrawn"}
        run.drive_off()
        run.run(30, EMPTY)
        assert run.ups and run.manager.state("A") == "up" and run.agent.bays_unseen() == {}
    finally:
        run.agent.stop()


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"version": 99, "bays": {}}',
                                     b'{"version": 1, "bays": {"A": [[1, "x"]]}, "old_ground": {"A": [[0, 1e999]]}}',
                                     b'{"version": 1, "bays": {}, "old_ground": {"A": [[[true, 0], [1, 0], [1, 1]]]}}',
                                     b"[" * 200000, "fifo"],
                         ids=["empty", "damaged", "another_version", "bad_points", "booleans", "nested_deep", "fifo"])
def test_an_outlines_file_that_cannot_be_read_is_nothing_known(tmp_path, clock, content):
    """A damaged or foreign ``bays/outlines.json`` is nothing known (a data dir of 0.11.0 has none): the agent
    starts, judges the bay as before (an empty bay rises), and writes the file anew."""
    lot = Lot(tmp_path, clock)
    path, data_dir = lot.rig.path, tmp_path / "data"
    lot.agent.stop()
    (data_dir / "bays").mkdir(exist_ok=True)
    (data_dir / "bays" / "outlines.json").unlink(missing_ok=True)
    if content == "fifo":  # read_bytes waited for a writer: the agent never started
        os.mkfifo(data_dir / "bays" / "outlines.json")
    else:
        (data_dir / "bays" / "outlines.json").write_bytes(content)
    run = Run(path, clock)
    try:
        run.run(40, EMPTY)
        assert run.manager.state("A") == "up"
        kept = json.loads((data_dir / "bays" / "outlines.json").read_text())
        assert kept["version"] == 1 and kept["old_ground"] == {}
        assert kept["bays"]["A"] == [[float(x), float(y)] for x, y in BAYS["A"]]
    finally:
        run.agent.stop()


def test_a_car_that_left_while_the_camera_was_blind_lets_its_old_ground_go(tmp_path, clock):
    """Redrawn while the camera was black, the car gone when it saw again. Before: the old ground's picture was taken
    on the first frame the camera vouched for after the redraw — the empty ground — so it never changed from it and
    the arm stayed down for good (600 s and on: a support call). Now the picture is the last frame seen before the
    redraw, the car in it."""
    lot = Lot(tmp_path, clock)
    try:
        lot.run(10, PARKED)
        lot.src.next = np.zeros((540, 960, 3), np.uint8)
        lot.run(3)
        lot.redraw(BAYS["B"])
        lot.run(30)
        lot.run(30, EMPTY)  # the car left in the dark
        assert lot.agent.bays_unseen() == {}
    finally:
        lot.agent.stop()


def _shaded(scene: Scene, x1: int) -> np.ndarray:
    """The scene with a shadow (0.55 of the light) over the frame left of ``x1``: a tree's, a van's beside the bay."""
    frame = render(scene).astype(np.float32)
    frame[:, :x1] *= 0.55
    return frame.clip(0, 255).astype(np.uint8)


def test_a_shadow_that_came_and_went_does_not_count_as_the_car_leaving(tmp_path, clock):
    """A shadow over half the old ground for a few seconds changes it beyond a quarter (0.44 on the rendered lot),
    then leaves it as it was. Before: that change was kept for good, so two later misreads of the still car
    (the model's costly mistake: ``_Misreads``) let the ground go, and the policy raised the arm under the car.
    Now the readings count only while the ground still differs from its picture at the redraw."""
    lot = Lot(tmp_path, clock, misreads=True)
    try:
        lot.run(10, PARKED)
        lot.redraw(BAYS["B"])
        lot.run(320, PARKED)
        lot.walk_across((560, 640, 720, 800, 880))  # the new outline confidently empty
        lot.src.next = _shaded(PARKED, 240)
        lot.run(5)
        lot.run(30, PARKED)
        lot.model.at = clock.monotonic()  # the still car misread from now on
        lot.run(60)
        assert not lot.ups and lot.agent.bays_unseen() == {"A": "bay_redrawn"}
    finally:
        lot.agent.stop()


def test_a_second_redraw_off_another_parked_car_keeps_that_ground_too(tmp_path, clock):
    """X stands on A's ground, the outline is dragged onto B's, Y parks there; then the outline slips off Y onto the
    empty ground between them. Before: only X's ground was kept (the first one watched), so X driving off let the
    arm rise while Y stood where the bay had been drawn — the first redraw's hole, one edit later. Now each outline
    that held a car at a redraw is watched until its ground is seen empty."""
    x_car = dataclasses.replace(NEV, x=180, width=250)
    y_car = dataclasses.replace(NEV, x=780, width=250, body=(40, 40, 120), plate=None)
    lot = Lot(tmp_path, clock)
    try:
        lot.run(10, Scene(cars=(x_car,)))
        lot.redraw(BAYS["B"])
        lot.run(5)
        for x in (1100, 1000, 900, 820, 780):
            lot.run(0.4, Scene(cars=(x_car, dataclasses.replace(y_car, x=x))))
        lot.run(10, Scene(cars=(x_car, y_car)))
        assert lot.agent.monitor.verdicts()["A"].occupied  # Y in the outline
        lot.redraw([(330.0, 200.0), (630.0, 200.0), (640.0, 530.0), (320.0, 530.0)])  # between them, empty
        lot.run(320)
        lot.walk_across((360, 440, 520, 600), (x_car, y_car))
        for x in (100, 0, -100, -200):
            lot.run(0.4, Scene(cars=(dataclasses.replace(x_car, x=x), y_car)))
        lot.run(60, Scene(cars=(y_car,)))
        assert not lot.ups and lot.agent.bays_unseen() == {"A": "bay_redrawn"}
        for x in (880, 980, 1100):  # Y leaves too
            lot.run(0.4, Scene(cars=(dataclasses.replace(y_car, x=x),)))
        lot.run(40, EMPTY)
        assert lot.agent.bays_unseen() == {} and lot.ups
    finally:
        lot.agent.stop()


def test_a_save_at_another_size_keeps_the_old_ground_where_it_was(tmp_path, clock):
    """The installer saves on a snapshot of another size (a 640x360 sub-stream under bays drawn on 960x540): every
    outline is written in that size's pixels. Before: the old outline was read in the new size's pixels unscaled —
    the same outline saved smaller counted as redrawn (bay_redrawn under a car that stood where its bay was), and a
    real redraw watched ground elsewhere in the frame. Now the old outline is scaled with the drawings."""
    def save(poly, size) -> None:  # noqa: ANN001
        data = yaml.safe_load(lot.rig.path.read_text())
        data["camera"]["width"], data["camera"]["height"] = size
        k = size[0] / 960
        data["bays"][0]["polygon"] = [[x * k, y * k] for x, y in poly]
        lot.rig.path.write_text(yaml.safe_dump(data))
        assert lot.agent.reload_config().ok

    lot = Lot(tmp_path, clock)
    try:
        save(BAYS["A"], (960, 540))
        lot.run(10, PARKED)
        save(BAYS["A"], (640, 360))  # the same outline, drawn on the sub-stream's snapshot
        lot.run(5, PARKED)
        assert lot.agent.bays_unseen() == {} and lot.manager.state("A") == "down"
        save(BAYS["B"], (960, 540))  # dragged off the car, on the main stream again
        lot.run(5, PARKED)
        ground = lot.agent.monitor._old_ground["A"]
        assert len(ground) == 1 and np.allclose(ground[0].polygon, BAYS["A"])  # where the car stands
        lot.drive_off()
        lot.run(5, EMPTY)
        assert lot.agent.bays_unseen() == {}
    finally:
        lot.agent.stop()


def test_an_outline_slipped_onto_a_neighbours_car_and_drawn_back_waits_for_nothing(tmp_path, clock):
    """The slip and its correction: A's outline dragged onto B, where the neighbour's car stands all day, and drawn
    back. The outline that read the neighbour was the slip, not a ground a car of this bay stood on: the arm waits
    for nothing, and rises once A's own car leaves."""
    neighbour = dataclasses.replace(NEV, x=710, body=(40, 40, 120), plate=None)
    lot = Lot(tmp_path, clock)
    try:
        lot.run(10, Scene(cars=(NEV, neighbour)))
        lot.redraw(BAYS["B"])
        lot.run(3)
        assert lot.agent.monitor.verdicts()["A"].p_occupied > 0.9  # the neighbour read in the slipped outline
        lot.redraw(BAYS["A"])
        lot.run(3)
        assert lot.agent.bays_unseen() == {}
        for x in (200, 120, 20, -80):
            lot.run(0.4, Scene(cars=(dataclasses.replace(NEV, x=x), neighbour)))
        lot.run(40, Scene(cars=(neighbour,)))
        assert lot.manager.state("A") == "up"
    finally:
        lot.agent.stop()


def test_the_arm_rises_once_the_car_drives_off_its_old_ground_with_nothing_crossing_the_new_outline(tmp_path, clock):
    """Redrawn onto empty ground beside the parked NEV, nobody passing: the new outline turns "empty" with nothing
    moving in it (held, not confident). Before: when the car drove off its old ground, the ground was let go but
    the new outline's "empty" stayed unconfident — nothing had moved in it — and the arm stayed down with the bay
    free (still down 200 s later). The car seen leaving its old ground is motion in the bay: the policy raises the
    arm ``auto_raise_delay_s`` (20 s) after the verdict turns confident."""
    lot = Lot(tmp_path, clock)
    try:
        lot.run(10, PARKED)
        lot.redraw(BAYS["B"])
        lot.run(320, PARKED)
        assert not lot.agent.monitor.verdicts()["A"].confident and not lot.ups
        lot.drive_off()
        lot.run(60, EMPTY)
        assert lot.agent.bays_unseen() == {} and lot.agent.monitor.verdicts()["A"].confident
        assert lot.ups and lot.manager.state("A") == "up"
    finally:
        lot.agent.stop()


def test_a_stop_writes_down_a_ground_let_go_since_the_last_write(tmp_path, clock):
    """``bays/outlines.json`` is written at the start, at each reload and once a minute; a ground let go since was
    still listed after a stop (upgrade12), and the next start waited for it again. The stop writes it too."""
    path = tmp_path / "data" / "bays" / "outlines.json"
    lot = Lot(tmp_path, clock)
    try:
        lot.run(10, PARKED)
        lot.redraw(BAYS["B"])
        lot.run(5, PARKED)
        assert json.loads(path.read_text())["old_ground"] == {"A": [[[float(x), float(y)] for x, y in BAYS["A"]]]}
        lot.drive_off()
        lot.run(5, EMPTY)
        assert lot.agent.bays_unseen() == {}
    finally:
        lot.agent.stop()
    assert json.loads(path.read_text())["old_ground"] == {}


class _SiteHeadReadsAEmpty:
    """A site calibration gone wrong on bay A: its head reads A 0.1 whatever stands there; the shipped head of the
    same run (the real model) is carried in ``shipped``, as ``BayClassifier.classify`` does when calibrated."""

    def __init__(self, shipped) -> None:  # noqa: ANN001
        self.inner, self.shipped = shipped, {}

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        p = self.inner.classify(frame, polygons, unseen)
        self.shipped = {b: v for b, v in p.items() if np.isfinite(v)}
        return {b: (0.1 if b == "A" and np.isfinite(v) else v) for b, v in p.items()}


def test_a_bay_whose_car_only_the_shipped_head_sees_keeps_its_old_ground_at_a_redraw(tmp_path, clock):
    """With a site calibration the raise needs the shipped head too; so must the redraw's "a car stood here". Until
    review72 a bay whose car only the shipped head saw held no car at the Save (the calibrated verdict: empty), its
    old ground was not kept, the new outline on empty ground read empty to both heads once someone walked through
    it, and the arm rose under the car, which had never moved."""
    cfg = load_config(write(tmp_path / "agent.yaml", tmp_path / "data", out=False, sensor=False))
    model = _SiteHeadReadsAEmpty(default_classifier(cfg))
    lot = Lot(tmp_path, clock)
    lot.agent.stop()
    lot.rig = AgentRig(tmp_path, clock, Frames(clock), classifier=model, out=False, sensor=False)
    lot.agent, lot.manager, lot.src, lot.events = lot.rig.agent, lot.rig.manager, lot.rig.src, lot.rig.events
    try:
        lot.run(30, PARKED)
        assert lot.manager.state("A") == "down"  # the shipped head sees the car: no raise (calib38)
        assert lot.agent.monitor.verdicts()["A"].p_shipped > 0.7
        lot.redraw(BAYS["B"])  # the next bay's ground, empty
        lot.run(320)
        lot.walk_across((560, 640, 720, 800, 880))  # motion through the new outline
        lot.run(60, PARKED)
        assert not lot.ups and lot.manager.state("A") == "down"  # the car never moved
        assert lot.agent.bays_unseen() == {"A": "bay_redrawn"}  # its old ground still waits for it
        # someone walks over the old ground, in front of the car: it changes from its picture, and the site head
        # reads it 0.1; the shipped head still sees the car, and the ground is not let go
        lot.walk_across((150, 200, 230, 260, 290, 320, 350), cars=PARKED.cars)
        lot.run(60, PARKED)
        assert lot.agent.bays_unseen() == {"A": "bay_redrawn"}
        assert not lot.ups and lot.manager.state("A") == "down"
    finally:
        lot.agent.stop()
