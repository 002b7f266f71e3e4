"""A plate the camera never reads whole — mud over one character — through the real detector and recogniser.

The recogniser skips the covered character (or ``occlusion.covered`` takes back the one it made up), so every
read is partial and none identifies the visit. What the frames still agree on is the vehicle's class:
``identify_reads`` of them judging the plate NEV, and none "not NEV", make the visit NEV with a partial plate
(``partial: true``) once it would otherwise be ``unidentified`` — no fine for the mud. "Not NEV" partial reads
stay ``unidentified`` (the allow list, which is what tells an EV on a blue plate, cannot match a partial plate),
with the partial plate in the violation for the reviewer.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from edge_agent.perception.lists import PlateLists
from edge_agent.sim.scenario import EMPTY, FUEL, NEV, Scene, Segment, hold
from edge_agent.sim.synthetic import Car, plate_corners, render
from tests.bays.scenario import play
from tests.perception.render import render_plate

FPS = 5.0
PERIOD = 1 / FPS


def _muddy(car: Car, style: str, pos: int) -> np.ndarray:
    """The scene with ``car``, its plate a GA 36 one (CJK font) with a brown mud spot over character ``pos``
    (as ``tests/perception/test_camera_casts._muddy``)."""
    plate = render_plate(car.plate or "", style)
    h, w = plate.shape[:2]
    mx = int(0.05 * w)
    gap = (w - 2 * mx) * 0.06
    cell = ((w - 2 * mx) - gap) / len(car.plate or "")
    cx = int(mx + cell * (pos + 0.5) + gap)
    cv2.ellipse(plate, (cx, h // 2), (int(cell * 0.55), int(h * 0.42)), 0, 0, 360, (40, 75, 110), -1, cv2.LINE_AA)
    frame = render(Scene(cars=(car,))).copy()
    (x1, y1), _, (x2, y2), _ = (tuple(int(v) for v in p) for p in plate_corners(car))
    x1c, x2c = max(x1, 0), min(x2, frame.shape[1])
    if x2c > x1c:
        frame[y1:y2, x1c:x2c] = cv2.resize(plate, (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)[:, x1c - x1:x2c - x1]
    return frame


def _park_muddy(car: Car, style: str, pos: int, seconds: float, enter_from: float) -> list[Segment]:
    """Drive in, stay ``seconds``, drive out: every frame with the mud on the plate."""
    n = round(1.6 * FPS)
    xs = [enter_from + (car.x - enter_from) * i / (n - 1) for i in range(n)]
    drive_in = [Segment(PERIOD, _muddy(replace(car, x=x), style, pos)) for x in xs]
    drive_out = [Segment(PERIOD, _muddy(replace(car, x=x), style, pos)) for x in reversed(xs)]
    return drive_in + [Segment(seconds, _muddy(car, style, pos))] + drive_out


def test_an_nev_with_a_character_under_mud_is_nev_with_a_partial_plate_not_unidentified(pipeline, tmp_path):
    """粤BD12345 with its last character under mud: every frame reads 粤BD1234? (partial, green, NEV by
    format+colour). Before: no read identified the visit and at 30 s it was an ``unidentified`` violation —
    a fine for an NEV owner. Now at 30 s the frames' class identifies it, with ``partial: true``, and no
    violation; the bay shows ``identified``, NEV, the partial plate."""
    run = play(hold(3, EMPTY) + _park_muddy(NEV, "small_nev", 7, 40, -200) + hold(8, EMPTY), pipeline, tmp_path)
    assert run.story() == ["vehicle_arrived", "vehicle_identified", "vehicle_departed"]
    t_arr, _ = run.one("vehicle_arrived")
    t_id, ident = run.one("vehicle_identified")
    assert abs(t_id - t_arr - 30) <= PERIOD + 1e-6
    assert ident.data["partial"] is True and ident.data["nev"] is True and "?" in ident.data["plate"]
    assert ident.data["plate"].startswith("粤BD1234") and ident.data["reads"] >= 3
    assert ident.evidence_id and run.agent.evidence.image_path(ident.evidence_id).is_file()
    during = [s for s in run.states if s.state == "identified"]
    assert during and during[-1].nev is True and during[-1].plate == ident.data["plate"]
    _, left = run.one("vehicle_departed")  # the departure says which plate left, and that it was partial
    assert left.data["plate"] == ident.data["plate"] and left.data["partial"] is True


@pytest.mark.parametrize("car,style,pos", [(NEV, "small_nev", 4), (replace(NEV, plate="粤B12345D"), "large_nev", 2)],
                         ids=["small_nev", "large_nev"])
def test_an_nev_with_a_serial_character_under_mud_is_nev_by_its_plate_shape(pipeline, tmp_path, car, style, pos):
    """Mud over a character inside the serial: the recogniser skips it, the pitch puts the ``?`` there
    (``粤BD1?345``), and the seven characters read like a civil plate, which the text alone leaves undecided
    — so no frame said NEV and the visit was an ``unidentified`` violation at 30 s. The plate's shape says
    NEV (``nev_shape``: seven characters in the 8-slot geometry, that slot empty, green / yellow-green):
    identified NEV with the partial plate at 30 s, no violation."""
    run = play(hold(3, EMPTY) + _park_muddy(car, style, pos, 40, -200) + hold(8, EMPTY), pipeline, tmp_path)
    assert run.story() == ["vehicle_arrived", "vehicle_identified", "vehicle_departed"]
    t_arr, _ = run.one("vehicle_arrived")
    t_id, ident = run.one("vehicle_identified")
    assert abs(t_id - t_arr - 30) <= PERIOD + 1e-6
    assert ident.data["partial"] is True and ident.data["nev"] is True and ident.data["plate"][pos] == "?"


def test_a_partial_nev_plate_matches_no_list(pipeline, tmp_path):
    """The deny list names the whole plate; a partial read of it is never that entry (two plates can share all
    but one character): still NEV by its class, no ``deny_list`` violation, and no ``unidentified`` one."""
    lists = PlateLists(deny={"粤BD12345", "粤BD12340"})
    run = play(hold(3, EMPTY) + _park_muddy(NEV, "small_nev", 7, 40, -200) + hold(8, EMPTY), pipeline, tmp_path,
               lists=lists)
    assert run.story() == ["vehicle_arrived", "vehicle_identified", "vehicle_departed"]
    _, ident = run.one("vehicle_identified")
    assert ident.data["partial"] is True and ident.data["reason"] != "deny_list"


def test_a_fuel_car_with_a_character_under_mud_is_still_unidentified_with_its_partial_plate(pipeline, tmp_path):
    """京A12345 with a serial character under mud: every frame reads it partial and "not NEV" (blue). Not a
    ``fuel_vehicle`` violation — an EV on a blue plate is told by the allow list, which a partial plate cannot
    match — but ``unidentified`` at 30 s as before, now carrying the partial plate (``partial: true``)."""
    run = play(hold(3, EMPTY) + _park_muddy(FUEL, "blue", 4, 40, 960 + 200) + hold(8, EMPTY), pipeline, tmp_path)
    assert run.story() == ["vehicle_arrived", "violation_started", "violation_ended", "vehicle_departed"]
    t_arr, _ = run.one("vehicle_arrived", "B")
    t_vio, vio = run.one("violation_started", "B")
    assert abs(t_vio - t_arr - 30) <= PERIOD + 1e-6 and vio.data["reason"] == "unidentified"
    assert vio.data["partial"] is True and "?" in vio.data["plate"] and vio.data["colour"] == "blue"
    assert vio.evidence_id
    _, left = run.one("vehicle_departed", "B")
    assert left.data["plate"] == vio.data["plate"] and left.data["partial"] is True
