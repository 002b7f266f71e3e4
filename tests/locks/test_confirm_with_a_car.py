"""The installer's **Confirm current view** of a knocked camera while a car is parked in a locked bay: the real agent,
the shipped occupancy model, a gpiozero lock on MockFactory pins (no presence sensor), a fake clock.

Confirm takes the current view as the bays' reference: each outline, as drawn, now lies on the ground it covers in
the knocked view. Knocked 60 px, bay A's outline lay on the asphalt beside the parked car. The bay's change since the
last picture the camera vouched for (the car) counted as a car leaving (``Hysteresis.vouched``): the visit departed
within 5 s of the confirmation, the bay read free, and 20 s later the policy raised the arm under the car. A redraw
by Save has waited for the ground the car stood on since 2026-12-05 (``bay_redrawn``); a confirmation moves every
outline over the scene just the same, so it waits for that ground too: where the camera's registration measured
it, the outline carried by the measured shift.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.clock import FakeClock
from edge_agent.control import ControlError
from edge_agent.sim.synthetic import Scene, render
from tests.locks.test_knocked_edit import PARKED, Site, _knocked


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock, untold: None):  # noqa: ANN201
    s = Site(tmp_path, clock)
    yield s
    s.close()


def _never_up(site: Site, seconds: float) -> None:
    for _ in range(int(seconds)):
        site.run(1)
        assert site.ups == 0 and site.position == 0.0, "the arm rose under the parked car"


def test_confirming_a_knocked_view_raises_no_arm_under_the_parked_car(site):  # noqa: ANN001
    site.src.next = render(PARKED)
    site.run(8)  # the installation's reference; the car in A is seen, the arm down
    assert site.agent.bus.states()["A"].state == "occupied" and site.position == 0.0
    site.src.next = _knocked(render(PARKED))
    site.run(5)
    assert site.agent.camera_moved
    assert site.agent.confirm_camera().ok  # the installer takes the knocked view: A's outline beside the car
    _never_up(site, 150)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    res = site.agent.lock("A", "close the bay", "ops")
    assert not res.ok and res.data["code"] == "bay_redrawn", res

    site.src.next = _knocked(render(Scene()))  # the car drives off: the ground it stood on is seen empty
    site.run(40)
    assert site.agent.monitor.feed.vision("A").vision == "ok"
    assert site.position == 1.0  # the policy raised A over the empty bay


def _knocked_hard(image: np.ndarray) -> np.ndarray:
    """Knocked so far (250 px across, 80 down, turned 8°) that registration matches no reference: no shift measured."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 8.0, 1.0)
    m[0, 2] += 250
    m[1, 2] += 80
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_a_view_matching_no_reference_is_not_confirmed_over_a_parked_car(site):  # noqa: ANN001
    """Knocked beyond any match, no shift is measured: where the parked car stands on the new view is unknown, so its
    bay cannot keep the car's ground (``confirming``). Confirmed, A's outline lay beside the car, the bay read free
    and the arm rose under the car 23 s later. Refused (``cars_unplaced``) while a bay holds a car: the bays stay
    blind, the arm down, until the installer redraws them (Save) over the view."""
    site.src.next = render(PARKED)
    site.run(8)
    assert site.agent.bus.states()["A"].state == "occupied" and site.position == 0.0
    site.src.next = _knocked_hard(render(PARKED))
    site.run(8)
    assert site.agent.camera.placement == "unmatched" and site.agent.camera.measured is None
    with pytest.raises(ControlError) as refused:
        site.agent.confirm_camera()
    assert refused.value.code == "cars_unplaced" and "A" in str(refused.value)
    _never_up(site, 150)
    assert site.agent.camera.placement == "unmatched"  # nothing confirmed: still the view to redraw


def test_the_wait_survives_a_crash_just_after_the_confirmation(site):  # noqa: ANN001
    """The grounds a lock waits for are kept on disk (``outlines.json``) at a reload and once a minute; a process
    killed within that minute of a confirmation (out of memory, the watchdog, a power cut) forgot the car's ground,
    and the restarted agent judged the bay on the asphalt its outline now covers: free, and the arm rose under the
    car."""
    site.src.next = render(PARKED)
    site.run(8)
    site.src.next = _knocked(render(PARKED))
    site.run(5)
    assert site.agent.confirm_camera().ok
    site.run(5)
    _killed_then_never_up(site)


def _killed_then_never_up(site: Site, seconds: float = 90) -> None:
    """The agent killed (nothing stopped it: it wrote nothing more); a new one on the same data keeps A's arm down
    for ``seconds``, waiting (``bay_redrawn``)."""
    killed, factory = site.agent, site.factory
    site._begin()
    try:
        _never_up(site, seconds)
        assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    finally:
        killed.stop()
        factory.reset()


@pytest.mark.parametrize("outline", ["as_it_was", "onto_the_car"])
def test_the_installers_save_over_a_knocked_view_is_a_confirmation_too(site, outline):  # noqa: ANN001
    """The installer's Save while the view does not fit takes it as the bays' reference, every outline as shown
    (``CameraWatch.reconfigure``): a confirmation. ``as_it_was``: A left where the page showed it, beside the car
    (the arm rose under it 25 s after the Save); ``onto_the_car``: A redrawn over the car where the knocked view
    shows it (the bay's own readings cover the car's ground: no wait, and the car is seen)."""
    import yaml

    from tests.locks.test_knocked_edit import KNOCK_PX

    site.src.next = render(PARKED)
    site.run(8)
    site.src.next = _knocked(render(PARKED))
    site.run(5)
    assert site.agent.camera_moved
    bays = yaml.safe_load(site.path.read_text())["bays"]
    if outline == "onto_the_car":
        bays[0]["polygon"] = [[x + KNOCK_PX, y] for x, y in bays[0]["polygon"]]
    site.write(bays=bays)
    assert site.agent.reload_config(installer=True).ok  # what the installer page's Save does
    _never_up(site, 150)
    vision = site.agent.monitor.feed.vision("A").vision
    if outline == "as_it_was":
        assert vision == "bay_redrawn"
        site.src.next = _knocked(render(Scene()))  # the car drives off
        site.run(40)
        assert site.position == 1.0
    else:
        assert vision == "ok" and site.agent.bus.states()["A"].state == "occupied"
