"""A mask added or taken out by a reload (the installer's Save, a SIGHUP) while a still parked car reads empty to the
model (dusk, a car the model never learnt): the real agent, a gpiozero lock on MockFactory pins (no presence sensor),
a fake clock, and a classifier that reads the car 0.95 and then, the light gone, 0.1.

The fill appearing or going changes the bay's picture for the change gate, and that change is the installer's edit,
not a car leaving: until probe review29 it was the motion that let the held misread be believed at once, a confident
"empty", and the policy raised the arm under the car 20 s later (a mask clipping under a twentieth of the bay, which
keeps vouching; or one over most of it, once it is taken out and the bay leaves ``bay_overlay``).
"""

from __future__ import annotations

import pytest
import yaml

from edge_agent.sim.synthetic import Scene, render
from tests.locks import test_restart_still_car as still
from tests.locks.test_confirm_with_a_car import _never_up
from tests.locks.test_knocked_edit import PARKED
from tests.locks.test_restart_still_car import ScriptedRun

CLIP = [[80.0, 400.0], [150.0, 400.0], [150.0, 404.0], [80.0, 404.0]]  # a text line across A: 4.4 % of it, padded
COVER = [[80.0, 290.0], [150.0, 290.0], [150.0, 420.0], [80.0, 420.0]]  # a label block over 60 % of A
site = still.site  # the fixture: the still car's run, bay A read by a script


def _masks(site: ScriptedRun, masks: list, with_bay: bool) -> None:
    """The masks edited by a reload; ``with_bay``: in the same Save as a bay added (a new monitor adopts the bays)."""
    cfg = yaml.safe_load(site.path.read_text())
    cfg["camera"]["masks"] = masks
    if with_bay:
        cfg["bays"] = [*cfg["bays"], {"id": f"C{len(cfg['bays'])}", "polygon": [[20.0, 160.0 + 5 * len(cfg["bays"])],
                                                                             [60.0, 160.0], [60.0, 190.0],
                                                                             [20.0, 190.0]]}]
    site.write(**cfg)
    res = site.agent.reload_config()
    assert res.ok and res.data["restart_needed"] == [], res


@pytest.mark.parametrize("with_bay", [False, True], ids=["masks_only", "with_a_bay"])
@pytest.mark.parametrize("mask", [CLIP, COVER], ids=["clip", "cover"])
def test_a_mask_edit_does_not_turn_a_misread_still_car_into_an_empty_bay(site, mask, with_bay):  # noqa: ANN001
    site.src.next = render(PARKED)
    site.run(10)
    assert site.agent.bus.states()["A"].state == "occupied"
    site.classifier.p = 0.1  # dusk: the still car reads surely empty to the model
    site.run(30)
    assert not site.agent.monitor.feed.vision("A").confident
    _masks(site, [mask], with_bay)  # the installer masks a text line (or a label) over the bay
    _never_up(site, 60)
    _masks(site, [], with_bay)  # …and takes it out again
    _never_up(site, 60)
    assert not site.agent.monitor.feed.vision("A").confident
    res = site.agent.lock("A", "close the bay", "ops")
    assert not res.ok and res.data["code"] in ("occupancy_unsure", "bay_occupied", "bay_in_visit"), res
    site.src.next = render(Scene())  # the car drives off: motion in the bay, believed
    site.run(60)
    assert site.position == 1.0
