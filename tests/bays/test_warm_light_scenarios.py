"""An NEV parked all evening under sodium lamps, through the real detector, recogniser and agent.

A warm light turns a green NEV plate yellow; a complete NEV serial on yellow is undecided (a yellow truck
plate with one spurious character reads the same), and a visit whose every read is undecided ends as an
``unidentified`` violation at ``unidentified_timeout_s`` — the arm never lowers for it (locks.md: nev null
stays UP with a warning). The frame's light, estimated by grey world and white patch, gives the plate back
its green (``perception.cast``): identified NEV, no violation. A yellow plate under the same light stays
what it was."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from edge_agent.sim.scenario import NEV, Scene, Segment
from edge_agent.sim.synthetic import Car, plate_corners, render
from tests.bays.scenario import play
from tests.perception.render import WHITE, render_plate
from tests.perception.test_camera_casts import cast

FPS = 5.0
PERIOD = 1 / FPS
SODIUM = (1.0, 0.6, 0.22)  # linear R, G, B gains of a low-pressure-ish sodium lamp on a daylight-balanced camera


def _lit(car: Car, style: str, gains: tuple[float, float, float]) -> np.ndarray:
    """The scene with ``car`` and its GA 36 plate (a real small NEV plate's pale gradient green: the render
    mixed 0.35 with white), the whole frame under the light ``gains``."""
    plate = render_plate(car.plate or "", style)
    if style == "small_nev":
        plate = np.clip(plate * 0.65 + np.float32(WHITE) * 0.35, 0, 255).astype(np.uint8)
    frame = render(Scene(cars=(car,))).copy()
    (x1, y1), _, (x2, y2), _ = (tuple(int(v) for v in p) for p in plate_corners(car))
    x1c, x2c = max(x1, 0), min(x2, frame.shape[1])
    if x2c > x1c:
        frame[y1:y2, x1c:x2c] = cv2.resize(plate, (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)[:, x1c - x1:x2c - x1]
    return cast(frame, *gains)


def _park(car: Car, style: str, gains: tuple[float, float, float], seconds: float) -> list[Segment]:
    n = round(1.6 * FPS)
    xs = [-200 + (car.x + 200) * i / (n - 1) for i in range(n)]
    drive_in = [Segment(PERIOD, _lit(replace(car, x=x), style, gains)) for x in xs]
    drive_out = [Segment(PERIOD, _lit(replace(car, x=x), style, gains)) for x in reversed(xs)]
    return drive_in + [Segment(seconds, _lit(car, style, gains))] + drive_out


def test_an_nev_under_sodium_lamps_is_identified_nev_not_an_unidentified_violation(pipeline, tmp_path):
    """粤BD12345 under sodium light reads whole on a plate the pixels call yellow / yellow-green: every frame was
    ``conflict``: ``vehicle_arrived``, ``violation_started`` (``unidentified``) at 30 s, ``violation_ended`` only as
it drove out, the arm never lowered. Corrected for
    the frame's warm light the plate is green: identified NEV within seconds, no violation."""
    empty = [Segment(3, cast(render(Scene(cars=())), *SODIUM))]
    run = play(empty + _park(NEV, "small_nev", SODIUM, 40) + [Segment(8, empty[0].scene)], pipeline, tmp_path)
    assert run.story() == ["vehicle_arrived", "vehicle_identified", "vehicle_departed"]
    t_arr, _ = run.one("vehicle_arrived")
    t_id, ident = run.one("vehicle_identified")
    assert t_id - t_arr < 10
    assert (ident.data["plate"], ident.data["nev"], ident.data["colour"]) == ("粤BD12345", True, "green")
