"""A restart with a presence sensor fitted under the arm: the wait for a car the last run left (``bay_redrawn`` until
a car is seen there in this run, probe wetstart) may end on two witnesses instead — the camera reading the bay empty
and the healthy sensor reporting it clear, together for ``SEEN_PARKED_S``. The wait exists because a lens wet at the
start reads the still car surely empty; a car standing over the arm is also in the sensor's beam, so only a second,
independent fault (a sensor dead in its clear state) could let such an arm rise — as for every raise. Until
probe locks41 a car gone while the agent was stopped left the arm down with the bay free until the next car had come
and gone, sensor or not.

A wait the installer's Save made over a view matching no reference (``Unplaced``) is about the drawing: its outline may
lie beside the car, so the camera's "empty" there is no witness, and the sensor alone does not end it.

The real agent wired as ``run`` wires it, a gpiozero lock with a digital presence sensor on MockFactory pins, a fake
clock, and a classifier scripted for bay A.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.sim.scenario import Scene
from edge_agent.sim.synthetic import render
from tests.locks.test_confirm_with_a_car import _never_up
from tests.locks.test_knocked_edit import BAY_A, PARKED
from tests.locks.test_renamed_lock_bay import OFF_THE_CAR
from tests.locks.test_restart_still_car import Scripted, ScriptedRun
from tests.locks.test_restart_unmatched import _restarted_on_a_view_matching_nothing

PRESENCE = 24  # the sensor's BCM pin (pulled up: LOW is active)
# wired fail-safe (docs/locks.md): its output conducts while the bay is clear, so a cut wire or a dead module reads
# "vehicle" and the sensor's "clear" is something it does, never what it says dead (``presence_clear_is_shown``)
FAIL_SAFE = {"kind": "digital", "pin": {"pin": PRESENCE}, "pin_active": "clear"}


class SensedRun(ScriptedRun):
    """``ScriptedRun`` with a digital presence sensor on lock LA reporting ``vehicle``: on pin ``pin``, its active
    (LOW) level meaning ``active`` (what ``FAIL_SAFE`` or the site's config says), and its health output on pin
    ``health`` (active LOW: OK) where one is wired."""

    vehicle = False
    pin, active, health = PRESENCE, "clear", None

    def _sync(self, dt: float = 0.0) -> None:
        pin = self.factory.pin(self.pin)
        pin.drive_low() if self.vehicle == (self.active == "vehicle") else pin.drive_high()
        if self.health is not None:
            self.factory.pin(self.health).drive_low()
        super()._sync(dt)


def _drop(frame: np.ndarray, sigma: float) -> np.ndarray:
    """A drop on the lens over bay A (``tests.bays.test_blur.drop`` on this site's bay A): blurred by ``sigma`` px
    of the bay's 64 px crop, a little brighter, feathered into the rest of the picture."""
    poly = np.array(BAY_A, np.float32)
    s = sigma * float(np.ptp(poly[:, 0])) / 64
    mask = np.zeros(frame.shape[:2], np.float32)
    cv2.fillPoly(mask, [poly.astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(cv2.dilate(mask, np.ones((int(4 * s) + 1,) * 2, np.uint8)), (0, 0), s)[..., None]
    blurred = cv2.GaussianBlur(frame.astype(np.float32), (0, 0), s) * 1.08 + 6
    return np.clip(frame * (1 - mask) + blurred * mask, 0, 255).astype(np.uint8)


@pytest.fixture
def site(tmp_path: Path, clock: FakeClock):  # noqa: ANN201
    SensedRun.classifier = Scripted()
    s = SensedRun(tmp_path, clock)
    cfg = yaml.safe_load(s.path.read_text())
    cfg["locks"][0]["presence"] = dict(FAIL_SAFE)
    s.write(**cfg)
    s.restart()
    yield s
    s.close()


def _park_and_restart(site: SensedRun) -> None:
    site.vehicle, site.src.next = True, render(PARKED)
    site.run(40)  # in the sensor's beam as long as a car come to rest (``SEEN_PARKED_S``), not a passer-by
    assert site.agent.bus.states()["A"].state == "occupied"
    site.restart()


@pytest.mark.parametrize("restarts", [1, 2])
def test_a_car_gone_while_stopped_is_let_go_on_the_camera_and_a_clear_sensor(site, restarts, caplog):  # noqa: ANN001
    _park_and_restart(site)
    site.vehicle, site.classifier.p, site.src.next = False, 0.1, render(Scene())  # it drove off during the stop
    for _ in range(restarts - 1):  # a second restart before the wait ended: still the last run's car
        site.run(5)
        assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"
        site.restart()
    site.run(40)  # both witnesses for SEEN_PARKED_S: the car's leaving is known (its "empty" needs no passer-by)
    assert site.agent.monitor.feed.vision("A").vision == "ok"
    site.run(30)  # auto_raise_delay_s
    said = [r.getMessage() for r in caplog.records if "bay_redrawn" in r.getMessage()]
    assert said and not [m for m in said if "saved over" in m], said  # a restart's wait, not a Save's
    assert site.position == 1.0, "the free bay's arm stays down until the next car has come and gone"


def test_a_wet_lens_over_the_still_car_keeps_waiting_while_the_sensor_sees_it(site, untold):  # noqa: ANN001
    _park_and_restart(site)
    site.classifier.p = 0.1  # the lens is wet now: the still car reads surely empty; the sensor still sees it
    _never_up(site, 120)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"


def test_a_sensor_clear_only_now_and_then_does_not_end_the_wait(site, untold):  # noqa: ANN001
    """The two witnesses must agree for ``SEEN_PARKED_S`` in a row: a car whose sensor drops out for a few seconds
    (an echo at its threshold) under a wet lens keeps the bay waiting."""
    _park_and_restart(site)
    site.classifier.p = 0.1
    for _ in range(8):
        site.vehicle = False
        _never_up(site, 10)
        site.vehicle = True
        _never_up(site, 2)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"


def test_a_saves_wait_is_not_ended_by_the_sensor(site):  # noqa: ANN001
    """Restarted on a view matching no reference, then saved over it: the outline may lie beside the car, so the
    camera's "empty" there is no witness, and a sensor dead in its clear state would be the only one."""
    site.vehicle = True
    _restarted_on_a_view_matching_nothing(site)
    site.write(bays=yaml.safe_load(site.path.read_text())["bays"])  # the outlines saved as shown
    assert site.agent.reload_config(installer=True).ok
    site.vehicle, site.classifier.p = False, 0.1  # the outline beside the car reads empty; the sensor reads clear
    _never_up(site, 120)
    assert site.agent.monitor.feed.vision("A").vision == "bay_redrawn"


def test_a_wet_lens_the_camera_flags_is_no_witness_beside_the_sensor(site):  # noqa: ANN001
    """The lens wet over the still car at the start, and the camera says so (``bay_blurred``: its view of the bay
    vouches for nothing); the sensor's beam misses the car (a low sports car, a car parked off the arm). The camera's
    "empty" there is the very misreading the wait is for: the sensor's "clear" would be the only witness. Until probe
    review94 those readings counted, and the wait ended 30 s into the blur."""
    _park_and_restart(site)
    site.vehicle, site.classifier.p = False, 0.1
    for k in range(1, 31):  # a drop runs onto the dome over bay A, spreading over 6 s
        site.src.next = _drop(render(PARKED), 0.1 * k)
        site.run(0.2)
    _never_up(site, 60)
    assert site.agent.monitor.feed.vision("A").vision == "bay_blurred"
    assert "A" in site.agent.monitor.unplaced(), "a blurred view's 'empty' ended the wait for the last run's car"


def test_a_sensor_its_lock_judged_blind_is_no_witness_for_the_wait(site, untold):  # noqa: ANN001
    """The last run's car stood off the sensor's beam (a low sports car, parked off the arm's line): the sensor read
    the bay clear while the camera saw the car, and the lock judged it blind (``presence_blind``, kept over a
    restart). Its "clear" is no witness — the lock said so — yet until probe review94 it ended the wait under an
    untold drop; the interlock still refused on ``presence_blind``, but a reset then raised the arm under the car
    at once (the car's leaving already counted as seen), 4 rises in 60 s."""
    cfg = yaml.safe_load(site.path.read_text())
    cfg["locks"][0]["presence"]["disagree_s"] = 60
    site.write(**cfg)
    site.restart()
    site.vehicle, site.src.next = False, render(PARKED)
    site.run(90)
    unit = site.locks._unit("A")
    assert unit.interlock.presence_blind is not None
    site.restart()
    site.classifier.p = 0.1  # a drop too small to be told: the still car reads surely empty
    _never_up(site, 60)
    assert "A" in site.agent.monitor.unplaced(), "a blind sensor's 'clear' ended the wait for the last run's car"


def test_an_outline_moved_while_stopped_off_a_car_still_awaited_keeps_the_strict_wait(site, untold):  # noqa: ANN001
    """A restart's wait not yet ended (``left_waiting``: the car under an untold drop, off the sensor's beam), the
    agent stopped again, and the outline edited meanwhile (dragged off the car by hand): the outline is no longer the
    one the last run left its car on, so, as after a Save or a reload that moves it, the camera's "empty" there
    witnesses nothing and the sensor (which misses this car) would be the only witness. Until probe review94 the
    next start resumed it as the restart's wait, and the sensor ended it: the arm rose under the car (4 rises)."""
    _park_and_restart(site)
    site.vehicle, site.classifier.p = False, 0.1
    site.run(5)
    assert site.agent.monitor.left_waiting() == ["A"]
    cfg = yaml.safe_load(site.path.read_text())
    cfg["bays"][0]["polygon"] = OFF_THE_CAR  # edited while stopped
    site.write(**cfg)
    site.restart()
    _never_up(site, 120)
    assert "A" in site.agent.monitor.unplaced(), "the sensor ended a wait on an outline moved off the car"


@pytest.mark.parametrize("restarts", [1, 2])
def test_a_sensor_that_never_saw_the_last_runs_car_is_no_witness_for_the_wait(site, untold, restarts):  # noqa: ANN001
    """The last run's car stood off the sensor's beam (a motorbike, a low sports car, one parked off the arm's line)
    for less than ``presence.disagree_s``, so the lock never judged the sensor blind; at the restart a drop too small
    to be told reads the still car surely empty. The sensor's "clear" says nothing of a car it never saw: until probe
    locks42 it was the second witness, and the wait ended 30 s in, the arm rising under the car. Only a sensor that
    reported the car in the last run (kept in ``outlines.json``, ``sensed``) ends the wait; a second restart keeps
    that record as it was."""
    site.vehicle, site.src.next = False, render(PARKED)  # parked off the beam
    site.run(10)
    assert site.agent.bus.states()["A"].state == "occupied"
    site.restart()
    site.classifier.p = 0.1
    for _ in range(restarts - 1):
        site.run(5)
        site.restart()
    _never_up(site, 120)
    assert "A" in site.agent.monitor.unplaced(), "a sensor that never saw the car ended the wait for it"


def test_a_sensors_record_of_an_earlier_visit_is_no_witness_for_the_car_left_now(site, untold):  # noqa: ANN001
    """The record is written with the outlines once a minute: a car the sensor saw left, the next parked off its beam,
    and the power went before the next write — ``outlines.json`` still names the first car's visit. The visit the
    last run left open is another car's, which the sensor may never have seen: the strict wait."""
    site.vehicle, site.src.next = False, render(PARKED)  # parked off the beam
    site.run(10)
    store = site.agent.outlines.path
    site.close()
    doc = json.loads(store.read_text())
    assert doc["sensed"] == {}
    doc["sensed"] = {"A": "the-visit-before"}
    store.write_text(json.dumps(doc))
    site._begin()
    site.classifier.p = 0.1
    _never_up(site, 120)
    assert "A" in site.agent.monitor.unplaced(), "a record of another visit ended the wait for the car left now"


def _passer_by(site: SensedRun) -> None:
    """Someone walks through the sensor's beam: one second of "vehicle", a passer-by's, not a car come to rest."""
    site.vehicle = True
    site.run(1)
    site.vehicle = False


def test_a_passer_by_in_the_beam_during_the_last_visit_makes_no_witness_of_the_sensor(site, untold):  # noqa: ANN001
    """The last run's car stood off the beam; a pedestrian crossed it once during the visit. A blip of "vehicle" is no
    sight of a parked car (the camera's own bar for a car is a reading held ``SEEN_PARKED_S``): until probe review97
    that one second made the record (``sensed``), the sensor's "clear" ended the wait under a drop too small to tell,
    and the arm rose under the car."""
    site.vehicle, site.src.next = False, render(PARKED)  # parked off the beam
    site.run(10)
    assert site.agent.bus.states()["A"].state == "occupied"
    _passer_by(site)
    site.run(5)
    site.restart()
    site.classifier.p = 0.1
    _never_up(site, 120)
    assert "A" in site.agent.monitor.unplaced(), "a passer-by's blip in the beam made the sensor a witness"


def test_a_passer_by_in_the_beam_during_the_wait_makes_no_witness_of_the_sensor(site, untold):  # noqa: ANN001
    """The same blip during the restart's wait: until probe review97 any "vehicle" reading then made the sensor's later
    "clear" a witness for the car off its beam."""
    site.vehicle, site.src.next = False, render(PARKED)
    site.run(10)
    site.restart()
    site.classifier.p = 0.1
    site.run(5)
    _passer_by(site)
    _never_up(site, 120)
    assert "A" in site.agent.monitor.unplaced(), "a passer-by's blip in the beam made the sensor a witness"


def _rewire(site: SensedRun, **presence: object) -> None:
    """The lock's presence settings changed while the agent is stopped (``presence``: keys replaced)."""
    site.close()
    cfg = yaml.safe_load(site.path.read_text())
    cfg["locks"][0]["presence"] = {**cfg["locks"][0]["presence"], **presence}
    site.write(**cfg)
    site._begin()


@pytest.mark.parametrize("change", ["other_pin", "health_line_added"])
def test_a_sensor_swapped_while_stopped_does_not_inherit_the_record_of_the_car(site, untold, change):  # noqa: ANN001
    """The sensor saw the last run's car (its record in ``outlines.json``), then, the agent stopped, it was swapped:
    wired to another pin, or for a module with a health output. The new one never saw the car, which stands off its
    beam (aimed elsewhere, another mount); a drop too small to tell reads the still car surely empty. Until probe
    locks43 the record was the bay's, not the sensor's: the new sensor's "clear" ended the wait 30 s in and the arm
    rose under the car."""
    _park_and_restart(site)
    site.vehicle = False
    if change == "other_pin":
        site.pin = PRESENCE + 1
        _rewire(site, pin={"pin": PRESENCE + 1})
    else:
        site.health = PRESENCE + 2  # its health output: active (LOW), sensor OK
        _rewire(site, health_pin={"pin": PRESENCE + 2})
    site.classifier.p = 0.1
    _never_up(site, 120)
    assert "A" in site.agent.monitor.unplaced(), "a swapped sensor's 'clear' ended the wait for a car it never saw"


@pytest.mark.parametrize("spelling", ["GPIO24", "BCM24", "BOARD18", "J8:18"])
def test_the_same_sensor_under_another_pin_spelling_keeps_its_record(site, untold, spelling):  # noqa: ANN001
    """The availability side of the sensor's identity: the config rewritten while the agent was stopped (a tidy-up,
    a config tool's output) names the sensor's pin another way gpiozero reads as the same header pin. The sensor
    is the one that saw the car: its record stands, and the car gone during the stop is let go on the camera and
    its "clear" (probe review103: the pin compared as written, every such bay paid the strict wait)."""
    _park_and_restart(site)
    _rewire(site, pin={"pin": spelling})
    site.vehicle, site.classifier.p, site.src.next = False, 0.1, render(Scene())  # it drove off during the stop
    site.run(40)
    assert "A" not in site.agent.monitor.unplaced(), "the same sensor's pin spelt another way lost its record"


def test_a_record_without_the_sensors_identity_leaves_the_strict_wait(site, untold):  # noqa: ANN001
    """``outlines.json`` written by an agent before probe locks43 has ``sensed`` and no ``sensors``: the record's
    sensor is not known, so it is no witness (the strict wait, once)."""
    _park_and_restart(site)
    store = site.agent.outlines.path
    site.close()
    doc = json.loads(store.read_text())
    assert doc["sensed"] and doc["sensors"]
    del doc["sensors"]
    store.write_text(json.dumps(doc))
    site._begin()
    site.vehicle, site.classifier.p = False, 0.1
    _never_up(site, 120)
    assert "A" in site.agent.monitor.unplaced(), "a record of an unknown sensor ended the wait"


@pytest.mark.parametrize("health", [False, True])
def test_a_sensor_that_reads_clear_dead_is_no_witness_from_the_last_run(site, untold, health):  # noqa: ANN001
    """A digital sensor whose active output means "vehicle": dead, unpowered or its wire cut it reads "clear". It saw
    the last run's car; during the stop its wire was cut (or it died). At the start a drop too small to tell reads
    the still car surely empty: until probe locks43 its "clear" ended the wait 30 s in and the arm rose under the
    car. Its record from the last run no longer counts; it is a witness once it has reported the car in this run
    (then it was alive since the start). A health line (active: OK) does not make it fail-safe: it watches the
    module, not the output's own wire, which alone coming loose reads "clear" with health OK (probe locks45: until
    then such a sensor ended the wait and the arm rose under the car)."""
    site.active = "vehicle"
    if health:
        site.health = PRESENCE + 2  # its health output: active (LOW), sensor OK throughout
        _rewire(site, pin_active="vehicle", health_pin={"pin": PRESENCE + 2})
    else:
        _rewire(site, pin_active="vehicle")
    _park_and_restart(site)
    site.vehicle, site.classifier.p = False, 0.1  # dead in its clear state; the drop
    _never_up(site, 120)
    assert "A" in site.agent.monitor.unplaced(), "a sensor dead in its clear state ended the wait"


@pytest.mark.parametrize("health", [False, True])
def test_a_sensor_that_reads_clear_dead_is_a_witness_once_it_reports_the_car_in_this_run(site, untold, health):  # noqa: ANN001
    """The availability side: the same sensor alive, the car still there at the start, then driven off. The sensor
    said "vehicle" for ``SEEN_PARKED_S`` in this run, so its "clear" after is a witness again (with a health line
    too: the 30 s it pays in this run, probe locks45)."""
    site.active = "vehicle"
    if health:
        site.health = PRESENCE + 2
        _rewire(site, pin_active="vehicle", health_pin={"pin": PRESENCE + 2})
    else:
        _rewire(site, pin_active="vehicle")
    _park_and_restart(site)
    site.run(40)  # still parked; the sensor sees it
    site.vehicle, site.classifier.p, site.src.next = False, 0.1, render(Scene())
    site.run(70)
    assert "A" not in site.agent.monitor.unplaced()
    assert site.position == 1.0
