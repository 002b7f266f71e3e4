"""The installer's **Save** over a view that matches no reference, while a car is parked in a locked bay: the real
agent, the shipped occupancy model, a gpiozero lock on MockFactory pins (no presence sensor), a fake clock.

Knocked so far (250 px across, 80 down, turned 8°) that registration matches nothing, no shift is measured: where
the parked car stands on the new view is unknown. Saved with bay A's outline left as shown — on the asphalt beside
the car — the bay read free and the arm rose under the car 23 s later (probe review14, ``occupancy.md`` "Not
guarded"). Confirm is refused there (``cars_unplaced``), but the Save is the only way to fix the camera while cars
are parked, so it goes ahead and the bay's lock waits (``bay_redrawn``) until a car is seen on the new outline: the
one redrawn onto the car is then an occupied bay as any other, and departs and rises as one.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.bays.old_ground import SEEN_PARKED_S, Unplaced
from edge_agent.clock import FakeClock
from edge_agent.control import ControlError
from edge_agent.events.types import EventType
from edge_agent.sim.scenario import FUEL
from edge_agent.sim.synthetic import Car, Person, Scene, render
from tests.locks.test_confirm_with_a_car import _killed_then_never_up, _knocked_hard, _never_up
from tests.locks.test_frozen_under_clock import FrozenUnderClock
from tests.locks.test_knocked_edit import BAY_A, PARKED, Site, _knocked


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock, untold: None):  # noqa: ANN201
    s = Site(tmp_path, clock)
    yield s
    s.close()


def _on_the_knocked_view(polygon: list[list[float]]) -> list[list[float]]:
    """``polygon`` where ``_knocked_hard`` puts it: what an installer who redraws it over the car draws."""
    m = cv2.getRotationMatrix2D((960 / 2, 540 / 2), 8.0, 1.0)
    m[0, 2] += 250
    m[1, 2] += 80
    return [[round(min(max(float(x), 0.0), 959.0), 1), round(min(max(float(y), 0.0), 539.0), 1)]
            for x, y in cv2.transform(np.float32([polygon]), m)[0]]  # the part in the frame


def _save_over_the_knocked_view(site: Site, scene: Scene | None = None, onto_the_car: bool = False) -> None:
    """``scene``: what the knocked camera sees, the bays' reference already taken (None: the car parked in A, from
    the installation on)."""
    if scene is None:
        scene = PARKED
        site.src.next = render(scene)
        site.run(8)  # the installation's reference
    site.src.next = _knocked_hard(render(scene))
    site.run(8)
    assert site.agent.camera.placement == "unmatched" and site.agent.camera.measured is None
    bays = yaml.safe_load(site.path.read_text())["bays"]
    if onto_the_car:
        bays[0]["polygon"] = _on_the_knocked_view(bays[0]["polygon"])
    site.write(bays=bays)
    assert site.agent.reload_config(installer=True).ok  # what the installer page's Save does


def _refusals(site: Site, code: str) -> list:
    return [e for e in site.events if e.type == EventType.LOCK_REFUSED and e.data.get("code") == code]


def test_a_save_over_an_unmatched_view_with_the_outline_off_the_car_keeps_the_arm_down(site):  # noqa: ANN001
    _save_over_the_knocked_view(site)
    _never_up(site, 150)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    res = site.agent.lock("A", "close the bay", "ops")  # a remote `lock` (MQTT, web)
    assert not res.ok and res.data["code"] == "bay_redrawn", res
    assert _refusals(site, "bay_redrawn"), "no lock_refused published"
    site.src.next = _knocked_hard(render(Scene()))  # the car drives off where no outline watches: nothing seen leave
    _never_up(site, 60)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"


def test_the_outline_redrawn_onto_the_car_departs_and_rises_as_any_bay(site):  # noqa: ANN001
    _save_over_the_knocked_view(site, onto_the_car=True)
    _never_up(site, 60)
    assert site.agent.monitor.feed.vision("A").vision == "ok"  # the car seen on the new outline: an ordinary bay
    assert site.agent.bus.states()["A"].state == "occupied"
    site.src.next = _knocked_hard(render(Scene()))  # the car drives off, seen on the outline that covers it
    site.run(60)
    assert site.position == 1.0  # the policy raised A over the empty bay


def test_an_empty_bay_at_the_save_is_not_held(site):  # noqa: ANN001
    """A's car left while the camera was in place (the arm rose over the empty bay); a car stands in B (no lock):
    only B waits for a car on its outline."""
    site.src.next = render(PARKED)
    site.run(8)
    in_b = Scene(cars=(Car(710, FUEL.plate),))
    site.src.next = render(in_b)
    site.run(40)
    assert site.agent.bus.states()["A"].state == "free" and site.position == 1.0
    _save_over_the_knocked_view(site, in_b)
    site.run(10)
    assert site.agent.monitor.feed.vision("A").vision == "ok"
    assert site.agent.monitor.feed.vision("B").vision == "bay_redrawn"
    assert site.position == 1.0 and not _refusals(site, "bay_redrawn")


def test_the_hold_survives_a_restart(site):  # noqa: ANN001
    """Kept in ``outlines.json`` at the Save: the restarted agent would otherwise judge A on the asphalt its
    outline covers, and raise the arm under the car."""
    _save_over_the_knocked_view(site)
    site.run(2)
    kept = json.loads((site.path.parent / "data" / "bays" / "outlines.json").read_text())
    assert kept.get("unplaced") == ["A"], kept
    _killed_then_never_up(site)  # killed just after the Save: a new agent on the same data


OFF_THE_CAR = [[430.0, 300.0], [484.0, 300.0], [484.0, 505.0], [430.0, 505.0]]  # A's outline beside the car


def _redrawn_off_the_car_and_knocked(site: Site) -> None:
    """A redrawn off its car on the page (its lock waits for the old outline's ground), its visit ended by the
    still-bay rule (``still_confirm_s``, 300 s): only the old ground says there is a car. Then knocked beyond any
    match."""
    site.src.next = render(PARKED)
    site.run(8)
    bays = yaml.safe_load(site.path.read_text())["bays"]
    bays[0]["polygon"] = OFF_THE_CAR
    site.write(bays=bays)
    assert site.agent.reload_config(installer=True).ok
    _never_up(site, 310)
    a = site.agent.bus.states()["A"]
    assert a.visit_id is None and site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    site.src.next = _knocked_hard(render(PARKED))
    site.run(8)
    assert site.agent.camera.placement == "unmatched" and site.agent.camera.measured is None


def test_a_bay_waiting_for_its_old_ground_is_not_confirmed_over_an_unmatched_view(site):  # noqa: ANN001
    """Its old outline, in the old view's pixels, lay on unrelated ground of the confirmed view: changed from the
    car's picture and read empty, the car "left", and the arm rose under it 20 s after the confirmation."""
    _redrawn_off_the_car_and_knocked(site)
    with pytest.raises(ControlError) as refused:
        site.agent.confirm_camera()
    assert refused.value.code == "cars_unplaced" and "A" in str(refused.value)
    _never_up(site, 60)


def test_a_bay_waiting_for_its_old_ground_waits_for_a_car_after_a_save_over_an_unmatched_view(site):  # noqa: ANN001
    _redrawn_off_the_car_and_knocked(site)
    assert site.agent.reload_config(installer=True).ok
    _never_up(site, 120)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    assert site.agent.monitor.watched_grounds() == {}  # the old view's outline: no ground on this one


@pytest.mark.parametrize("after_s", [1, 60])
def test_the_outline_then_redrawn_onto_the_car_departs_and_rises(site, after_s):  # noqa: ANN001
    """The way out for an outline left off the car: the installer redraws it onto the car and saves again, at once
    (the visit still open) or a minute later (its visit ended 3 s after the first Save: the outline's change as the
    view was vouched again). The outline left is no ground known to be the car's, so the bay waits for the car on
    its new outline alone; kept as an old ground, its asphalt never changed from its picture with the "car" and the
    arm stayed down after the car had gone."""
    _save_over_the_knocked_view(site)
    _never_up(site, after_s)
    bays = yaml.safe_load(site.path.read_text())["bays"]
    bays[0]["polygon"] = _on_the_knocked_view(BAY_A)
    site.write(bays=bays)
    assert site.agent.reload_config(installer=True).ok
    _never_up(site, 45)  # 30 s of the car seen on the new outline
    assert site.agent.monitor.feed.vision("A").vision == "ok"
    site.src.next = _knocked_hard(render(Scene()))  # the car drives off, seen on the outline that covers it
    site.run(60)
    assert site.position == 1.0


def test_a_save_at_another_size_over_a_moved_view_waits_for_the_car_too(site):  # noqa: ANN001
    """Knocked 60 px (a shift measured), the installer's Save of the outlines as shown on a snapshot of another size
    (1920x1080): the measured shift is in the old size's pixels, so the cars' grounds were not carried, A's outline
    (beside the car) read free once ``still_confirm_s`` (300 s) had passed, and the first passer-by through it made
    that confident: the arm rose under the car 18 s later."""
    site.src.next = render(PARKED)
    site.run(8)
    site.src.next = _knocked(render(PARKED))
    site.run(8)
    assert site.agent.camera.placement == "moved" and site.agent.camera.measured is not None
    cfg = yaml.safe_load(site.path.read_text())
    site.write(bays=[{**b, "polygon": [[x * 2, y * 2] for x, y in b["polygon"]]} for b in cfg["bays"]],
               camera={**cfg["camera"], "width": 1920, "height": 1080})
    assert site.agent.reload_config(installer=True).ok
    _never_up(site, 320)
    site.src.next = _knocked(render(Scene(cars=PARKED.cars, people=(Person(55),))))  # someone walks through A
    site.run(2)
    site.src.next = _knocked(render(PARKED))
    _never_up(site, 60)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"


def test_a_car_is_thirty_seconds_of_unbroken_occupied_readings():
    """``Unplaced.read``: a passer-by standing in the outline a few seconds, or a run broken by a doubtful or
    unread crop, is no car; 30 s of readings at or above ``enter_p`` are."""
    u = Unplaced()
    assert not any(u.read(0.9, t, 0.7, 2, SEEN_PARKED_S) for t in range(5))  # 5 s of someone standing there
    assert not u.read(0.5, 5, 0.7, 2, SEEN_PARKED_S)  # they walk off: the run starts over
    assert not any(u.read(p, t, 0.7, 2, SEEN_PARKED_S) for t, p in zip(range(6, 40), [0.9] * 20 + [float("nan")]))
    assert not any(u.read(0.9, t, 0.7, 2, SEEN_PARKED_S) for t in range(40, 70))  # 29 s
    assert u.read(0.9, 70, 0.7, 2, SEEN_PARKED_S)


def test_the_wait_outlasts_a_knock_and_its_return_and_a_confirmation(site):  # noqa: ANN001
    """The camera knocked 60 px again after the Save (``camera_moved``) and put back (``camera_aligned``), then
    knocked and confirmed (a shift measured): none of it is a car seen on A's outline, so A still waits."""
    _save_over_the_knocked_view(site)
    _never_up(site, 20)
    base = _knocked_hard(render(PARKED))
    again = cv2.warpAffine(base, np.float32([[1, 0, 60], [0, 1, 0]]), base.shape[1::-1],
                           borderMode=cv2.BORDER_REPLICATE)
    site.src.next = again
    _never_up(site, 20)
    site.src.next = base
    _never_up(site, 30)
    assert [t for t, _ in site.camera()][-2:] == ["camera_moved", "camera_aligned"]
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    site.src.next = again
    site.run(8)
    assert site.agent.confirm_camera().ok
    _never_up(site, 100)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"


@pytest.mark.parametrize("stamp", [False, True])
def test_a_picture_hung_on_a_car_passing_through_the_outline_is_no_car_seen(tmp_path, clock, stamp):  # noqa: ANN001
    """A car passes through A's outline (left beside the parked car), 5 s live, and the camera hangs on it — bit for
    bit, or under its ticking clock: the hung picture read "occupied" until ``frozen_after_s`` (30 s), so the wait
    ended 25 s into the hang, and once the camera was back the outline read free and the arm rose under the parked
    car 23 s later. Readings of a bay's picture unchanged since the last frame count for nothing now."""
    site = Site(tmp_path, clock)
    site.src.__class__ = FrozenUnderClock  # the same source, able to hang (``test_frozen_under_clock``)
    site.src.stamp = stamp
    try:
        _save_over_the_knocked_view(site)
        _never_up(site, 10)
        knocked = _knocked_hard(render(PARKED))
        passing = knocked.copy()
        passing[290:515, 70:160] = render(PARKED)[290:515, 70:160]  # a car's side filling A's outline
        site.src.next = passing
        _never_up(site, 5)
        assert site.agent.monitor.feed.vision("A").occupied is True  # seen on the outline, live
        frame = site.src.latest()
        assert frame is not None
        site.src.frozen = frame.image
        _never_up(site, 40)
        assert site.agent.health.health().reason == "frozen" and site.agent.monitor.unplaced() == ["A"]
        site.src.frozen, site.src.next = None, knocked  # back live: the passing car gone, the parked one in place
        _never_up(site, 120)
        assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
    finally:
        site.close()
