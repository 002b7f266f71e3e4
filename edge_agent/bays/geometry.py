"""Plate → bay assignment by where the plate touches the ground, as Frigate does for zones.

A plate hangs on the vehicle's front or back, so its bottom edge is the best cheap proxy
for the vehicle's position on the ground; the polygon that holds the bottom-centre wins.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Point = tuple[float, float]


class BayShape:
    """One bay's polygon with the helpers every frame needs (mask, bounding rect)."""

    def __init__(self, bay_id: str, polygon: Sequence[Point]) -> None:
        self.bay_id = bay_id
        self.polygon = np.asarray(polygon, dtype=np.float32)
        x, y, w, h = cv2.boundingRect(self.polygon)
        self.rect = (x, y, w, h)

    def contains(self, pt: Point) -> bool:
        return cv2.pointPolygonTest(self.polygon, (float(pt[0]), float(pt[1])), False) >= 0

    def distance(self, pt: Point) -> float:
        """Signed distance: positive inside, negative outside (pixels)."""
        return float(cv2.pointPolygonTest(self.polygon, (float(pt[0]), float(pt[1])), True))

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """uint8 mask (255 inside) for a frame of ``shape`` (h, w)."""
        m = np.zeros(shape, dtype=np.uint8)
        cv2.fillPoly(m, [np.round(self.polygon).astype(np.int32)], 255)
        return m


def bottom_centre(corners: Sequence[Point]) -> Point:
    """Midpoint of the plate's bottom edge (corners are TL, TR, BR, BL)."""
    (bx1, by1), (bx2, by2) = corners[2], corners[3]
    return ((bx1 + bx2) / 2.0, (by1 + by2) / 2.0)


def assign_bay(corners: Sequence[Point], shapes: Sequence[BayShape], margin_px: float = 0.0) -> str | None:
    """The bay a plate belongs to, or ``None`` (a plate on the road or between bays).

    Bottom-centre inside a polygon decides; if it sits on a shared edge or inside two
    overlapping polygons, the one it is deepest inside wins. ``margin_px`` tolerates a
    plate whose bottom edge is just outside its bay (bumper overhang).
    """
    if len(corners) != 4 or not shapes:
        return None
    pt = bottom_centre(corners)
    d, bay_id = max((s.distance(pt), s.bay_id) for s in shapes)
    return bay_id if d >= -margin_px else None


Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, end exclusive


def merge_boxes(boxes: Sequence[Box], gain: float = 1.25) -> list[Box]:
    """Disjoint boxes covering ``boxes``: two that overlap, or whose common box is hardly bigger than the
    two together (at most ``gain`` times their summed area), become their common box, until none do.
    Why: each detector run costs its pixels plus a fixed overhead, and a plate must not be found twice."""
    out = [tuple(b) for b in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                if overlap or _area_of(u) <= gain * (_area_of(a) + _area_of(b)):
                    out[j] = u
                    del out[i]
                    merged = True
                    break
            if merged:
                break
    return [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in out]


def _area_of(b: Sequence[int]) -> int:
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])
