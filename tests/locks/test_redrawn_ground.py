"""A bay redrawn off a parked car: its arm waits until the ground the car stood on is seen empty (``old_ground``).

The real agent on the rendered test lot (the shipped classifier, no plate reader, an injected clock), bay A's lock
on the simulator without a presence sensor: the camera is the only evidence, as on most sites.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from edge_agent.config.load import load_config
from edge_agent.events.types import EventType
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from edge_agent.sim.scenario import EMPTY, NEV, Person, Scene
from edge_agent.sim.synthetic import BAYS, render
from tests.bays.test_vision import NoPlates
from tests.locks.test_vision_paths import Frames, write
from tests.locks.test_vision_paths import Rig as AgentRig

PARKED = Scene(cars=(NEV,))


class Lot:
    """The rig with A's outline editable and every instant the UP line was driven recorded."""

    def __init__(self, tmp_path, clock) -> None:  # noqa: ANN001
        self.rig = AgentRig(tmp_path, clock, Frames(clock), out=False, sensor=False)
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

    def walk_across(self, xs) -> None:  # noqa: ANN001
        for x in xs:
            self.run(0.6, dataclasses.replace(PARKED, people=(Person(x),)))

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
        assert lot.agent.monitor.verdicts()["A"].confident  # the new outline is confidently empty …
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
                                     b'{"version": 1, "bays": {"A": [[1, "x"]]}, "old_ground": {"A": [[0, 1e999]]}}'],
                         ids=["empty", "damaged", "another_version", "bad_points"])
def test_an_outlines_file_that_cannot_be_read_is_nothing_known(tmp_path, clock, content):
    """A damaged or foreign ``bays/outlines.json`` is nothing known (a data dir of 0.11.0 has none): the agent
    starts, judges the bay as before (an empty bay rises), and writes the file anew."""
    lot = Lot(tmp_path, clock)
    path, data_dir = lot.rig.path, tmp_path / "data"
    lot.agent.stop()
    (data_dir / "bays").mkdir(exist_ok=True)
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
