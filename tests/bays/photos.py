"""Real photos from plates-dev composed into the rendered parking lot (arrive / stay / leave).

The car's front (a window around the labelled plate) is scaled so the plate is ~120 px wide
and pasted into a bay with the plate's bottom edge where a parked car's would be.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from edge_agent.perception.imageio import read_image
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import render


def labelled_photos(root: Path, colour: str, n: int) -> list[tuple[Path, str, tuple[int, int, int, int]]]:
    """The first ``n`` full-scene photos with one labelled ``colour`` plate and a box."""
    out = []
    with (root / "labels.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["scene"] == "full" and r["n_plates_labelled"] == "1" and r["plate_color"] == colour \
                    and r["bbox_x1"]:
                box = tuple(int(float(r[k])) for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"))
                out.append((root / r["file"], r["plate_text"], box))
            if len(out) == n:
                break
    return out


def compose(photo: Path, box: tuple[int, int, int, int], centre_x: float, plate_bottom_y: float,
            plate_w: float = 120.0) -> np.ndarray:
    """The empty rendered lot with the car front from ``photo`` pasted in."""
    img = read_image(photo)
    x1, y1, x2, y2 = box
    s = plate_w / max(1, x2 - x1)
    small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    pw, ph = 3.0 * plate_w, 2.4 * plate_w  # the patch: car front around the plate
    px, pb = (x1 + x2) / 2 * s, y2 * s  # plate bottom-centre inside the scaled photo
    sx0, sy0 = int(max(0, px - pw / 2)), int(max(0, pb - ph * 0.8))
    sx1, sy1 = int(min(small.shape[1], px + pw / 2)), int(min(small.shape[0], pb + ph * 0.2))
    patch = small[sy0:sy1, sx0:sx1]
    frame = render(EMPTY).copy()
    dx, dy = int(centre_x - (px - sx0)), int(plate_bottom_y - (pb - sy0))
    h, w = patch.shape[:2]
    fx0, fy0 = max(0, dx), max(0, dy)
    fx1, fy1 = min(frame.shape[1], dx + w), min(frame.shape[0], dy + h)
    frame[fy0:fy1, fx0:fx1] = patch[fy0 - dy:fy1 - dy, fx0 - dx:fx1 - dx]
    return frame
