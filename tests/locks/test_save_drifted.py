"""The installer's Save over a view that drifted within tolerance (a mount sagging a few px, followed): the page
carries every outline onto the current view and the Save takes that view as the bays' reference. Before (probe
leftovers29), the reload compared the old outline (the old drawing's pixels) with the carried one (the view's): a
Save that changed no outline made the bay holding a car ``bay_redrawn`` until the car left (3 px and 5 px drifts),
and a real redraw watched the car's old ground where the old drawing lay, off the car by the drift."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.sim.synthetic import Scene, render
from tests.locks.test_knocked_edit import BAY_A, PARKED, Site

DRIFT_PX = 4.0  # within camera.shift_tolerance_px (24): followed, the bays' placement "ok"


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock):  # noqa: ANN201
    s = Site(tmp_path, clock)
    yield s
    s.close()


def _drifted(image: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(image, np.float32([[1, 0, DRIFT_PX], [0, 1, 0]]), image.shape[1::-1],
                          borderMode=cv2.BORDER_REPLICATE)


def _save_carried(site: Site, move_a: float = 0.0) -> list[tuple[float, float]]:
    """The page's Save: every outline carried by the shift followed (``routes_site._onto_current_view``), A's
    moved ``move_a`` px further right by the installer; returns where A's old outline lies on the view."""
    (a, b, c), (d, e, f) = site.agent.camera.measured
    assert site.agent.camera.placement == "ok" and abs(c - DRIFT_PX) < 1.0  # followed, not moved
    bays = yaml.safe_load(site.path.read_text())["bays"]
    for bay in bays:
        bay["polygon"] = [[a * x + b * y + c + (move_a if bay["id"] == "A" else 0.0), d * x + e * y + f]
                          for x, y in bay["polygon"]]
    site.write(bays=bays)
    assert site.agent.reload_config(installer=True).ok
    return [(a * x + b * y + c, d * x + e * y + f) for x, y in BAY_A]


def test_a_save_that_changed_no_outline_over_a_drifted_view_is_no_redraw(site: Site) -> None:
    site.src.next = render(PARKED)
    site.run(8)
    site.src.next = _drifted(render(PARKED))
    site.run(10)
    _save_carried(site)
    site.run(30)
    assert site.agent.bays_unseen() == {}  # was {"A": "bay_redrawn"} until the car left
    assert site.agent.bus.states()["A"].state == "occupied" and site.position == 0.0


def test_a_real_redraw_over_a_drifted_view_watches_the_ground_where_the_car_stands(site: Site) -> None:
    site.src.next = render(PARKED)
    site.run(8)
    site.src.next = _drifted(render(PARKED))
    site.run(10)
    ground = _save_carried(site, move_a=400.0)  # A dragged onto the asphalt on the right
    site.run(30)
    assert site.agent.bays_unseen() == {"A": "bay_redrawn"} and site.position == 0.0
    [watched] = site.agent.monitor.watched_grounds()["A"]
    assert max(abs(x - u) + abs(y - v) for (x, y), (u, v) in zip(watched, ground)) < 0.5  # was DRIFT_PX off
    site.src.next = _drifted(render(Scene()))  # the car drives off its ground
    site.run(40)
    assert site.agent.bays_unseen() == {}
