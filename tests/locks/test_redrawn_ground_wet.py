"""A bay redrawn off a parked car, then a drop lands on the lens over the car: the old ground (``old_ground``) is
the only view of the car, and the lens check must judge it too.

The drop washes the car out: its ground's picture changes a car's worth (44 % of it on this lot) and the model reads
the car surely empty (p ≤ 0.3 under drops, probe occ38), while the new outline, on sharp empty ground beside it, is
seen clearly. Until probe lens39 the lens check judged only the outlines: two such readings let the old ground go as
a departure, the bay vouched again and the policy raised the arm under the car, which had never moved.
The lot is ``tests.bays.test_lens``'s drawn lot (sharp, with a natural scene's detail at every scale); the model a
script reading the cars where they stand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from edge_agent.config.load import load_config
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import attach_locks
from tests.bays.test_lens import BAYS, PARKED, H, W, lot, through_lens
from tests.bays.test_vision import Frames, NoPlates

FPS = 2.0


class Sees:
    """The model on the drawn lot: a car where one is parked, surely empty elsewhere and under a drop (``wet``)."""

    def __init__(self) -> None:
        self.wet: set[str] = set()
        self.parked = set(PARKED)

    def classify(self, frame, polygons, unseen=None):  # noqa: ANN001, ANN201
        out = {}
        for bay, poly in polygons.items():
            x, y = np.mean(np.asarray(poly, float), axis=0)
            under = next((b for b, q in BAYS.items() if q[0][0] <= x < q[1][0] and q[0][1] <= y < q[2][1]), None)
            out[bay] = 0.95 if under in self.parked and under not in self.wet else 0.05
        return out


class WetLot:
    """The real agent on the drawn lot, bay A2 (a parked car) alone with a simulated lock and no presence sensor."""

    def __init__(self, tmp_path: Path, clock) -> None:  # noqa: ANN001
        self.clock, self.src, self.model = clock, Frames(clock), Sees()
        self.path = tmp_path / "agent.yaml"
        self.cfg = {
            "site": {"site_id": "s", "device_id": "d"},
            "camera": {"source": "0", "fps": FPS, "width": W, "height": H},
            "bays": [{"id": "A2", "polygon": [list(p) for p in BAYS["A2"]], "lock_id": "L"}],
            "timers": {"arrival_confirm_s": 2, "departure_confirm_s": 3},
            "locks": [
                {
                    "id": "L",
                    "driver": "simulator",
                    "auto_raise_delay_s": 20,
                    "simulator": {"travel_time_s": 1.0, "start": "down", "presence": False},
                }
            ],
            "data_dir": str(tmp_path / "data"),
        }
        self.path.write_text(yaml.safe_dump(self.cfg))
        self.agent = Agent(
            load_config(self.path), clock=clock, source=self.src, reader=NoPlates(), classifier=self.model
        )
        self.manager = attach_locks(self.agent, thread=False)
        self.agent.start()
        self.ups = 0

    def run(self, seconds: float, frame: np.ndarray) -> None:
        self.src.next = frame
        for _ in range(int(round(seconds * FPS))):
            self.agent.step()
            self.manager.tick()
            self.ups += self.manager.driver("A2").arm.drive == "up"
            self.clock.advance(1 / FPS)

    def redraw(self, polygon) -> None:  # noqa: ANN001
        """The installer's Save of A2's outline (the page rewrites the config and reloads the agent)."""
        self.cfg["bays"][0]["polygon"] = [list(p) for p in polygon]
        self.path.write_text(yaml.safe_dump(self.cfg))
        assert self.agent.reload_config().ok


def test_a_drop_over_the_old_ground_does_not_let_the_car_go(tmp_path, clock):  # noqa: ANN001
    site = WetLot(tmp_path, clock)
    try:
        site.run(10, through_lens(lot(), noise=0))
        assert site.manager.state("A2") == "down"
        site.redraw(BAYS["A1"])  # dragged onto the empty ground beside the car
        site.run(20, through_lens(lot(), noise=0))
        assert site.agent.bays_unseen() == {"A2": "bay_redrawn"}
        site.model.wet.add("A2")  # a drop lands over the car: its ground reads surely empty
        site.run(120, through_lens(lot(), (("A2", 1.0),), noise=0))
        assert site.ups == 0 and site.manager.state("A2") == "down"
        assert site.agent.bays_unseen() == {"A2": "bay_redrawn"}  # the car's ground is under the drop: unseen
        site.model.wet.clear()  # wiped: the car, seen again, still holds the arm down
        site.run(60, through_lens(lot(), noise=0))
        assert site.ups == 0 and site.agent.bays_unseen() == {"A2": "bay_redrawn"}
    finally:
        site.agent.stop()


def test_the_car_leaving_under_the_drop_wiped_is_seen(tmp_path, clock):  # noqa: ANN001
    """The cost is the drop's time only: once the lens is wiped the car's leaving is seen and the arm rises."""
    site = WetLot(tmp_path, clock)
    try:
        site.run(10, through_lens(lot(), noise=0))
        site.redraw(BAYS["A1"])
        site.run(20, through_lens(lot(), noise=0))
        gone = tuple(b for b in PARKED if b != "A2")
        site.model.parked.discard("A2")
        site.run(60, through_lens(lot(gone), noise=0))  # the car drives off
        assert site.agent.bays_unseen() == {}
        site.run(40, through_lens(lot(gone), noise=0))
        assert site.manager.state("A2") == "up"
    finally:
        site.agent.stop()


def _nudged(polygon, dx: float) -> list[tuple[float, float]]:  # noqa: ANN001
    return [(x + dx, y) for x, y in polygon]


def test_a_save_while_the_drop_dries_keeps_the_ground_hidden(tmp_path, clock):  # noqa: ANN001
    """A drop drying off the car's old ground passes through the lens check's doubt band (more than ``CLEAR``, not
    more than ``OBSCURED`` of its tiles soft): the ground stays hidden, as a bay does, until the drop is gone. A
    Save in that time (any reload) must not forget it: the ground, judged afresh, read sharp, the still car read
    surely empty under the drop, and the arm rose under it (review100)."""
    site = WetLot(tmp_path, clock)
    try:
        site.run(10, through_lens(lot(), noise=0))
        site.redraw(BAYS["A1"])
        site.run(20, through_lens(lot(), noise=0))
        site.model.wet.add("A2")
        site.run(20, through_lens(lot(), (("A2", 1.0),), noise=0))  # the drop over the car: its ground hidden
        # 0.41 of its tiles soft (in the doubt band), 0.38 of its picture changed from the car's (past LEFT_CHANGE)
        drying = through_lens(lot(), (("A2", 0.7),), sigma=8.0, noise=0)
        site.run(30, drying)
        assert site.ups == 0 and site.agent.bays_unseen() == {"A2": "bay_redrawn"}
        site.redraw(_nudged(BAYS["A1"], 2.0))  # the installer trims the new outline: a reload
        site.run(60, drying)
        assert site.ups == 0 and site.manager.state("A2") == "down"
        assert site.agent.bays_unseen() == {"A2": "bay_redrawn"}
    finally:
        site.agent.stop()


def test_a_drop_on_the_car_at_the_redraw_hides_its_ground(tmp_path, clock):  # noqa: ANN001
    """The drop was on the lens over the car when the installer dragged the outline off it: the bay's lens flag is
    its outline's, the very pixels that become the old ground; drying into the doubt band it must not read sharp."""
    site = WetLot(tmp_path, clock)
    try:
        site.run(10, through_lens(lot(), noise=0))
        site.model.wet.add("A2")
        site.run(20, through_lens(lot(), (("A2", 1.0),), noise=0))
        assert "A2" in site.agent.bays_unseen()
        site.run(20, through_lens(lot(), (("A2", 0.5),), noise=0))  # drying: still told, the doubt band
        assert site.agent.bays_unseen().get("A2") == "bay_blurred"
        site.redraw(BAYS["A1"])
        site.run(60, through_lens(lot(), (("A2", 0.5),), noise=0))
        assert site.ups == 0 and site.manager.state("A2") == "down"
    finally:
        site.agent.stop()
