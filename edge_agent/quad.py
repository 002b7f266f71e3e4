"""The bay quadrilateral: the four corners a bay polygon is cropped by, or why it has none.

It sits at the bottom of the import order (beside ``clock`` and ``config``) because three places must
agree on it: config validation (``bays[i].polygon``), the labels reader of ``occupancy eval`` /
``calibrate`` / ``train``, and the crop itself (``bays/crop.py``). A polygon the config or a labels
file accepts is then one the crop can use, instead of a crash on the first frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MIN_SIDE_PX = 1.0
MIN_AREA_PX2 = 4.0
MAX_COORD_PX = 1e6
SIDE_TOLERANCE = 0.02  # share of the outline's length a point may stray from a side and still lie on it
CONCAVE_TOLERANCE_DEG = 1.0  # a corner bent inward by more than this makes the quad concave (a click's jitter less)


def bay_quad(polygon: Sequence[tuple[float, float]], margin: float = 0.0) -> np.ndarray:
    """The four corners [4, 2] float32 the crop maps to its square, in a fixed order: the polygon if it
    has four points, its four corners if its other points lie on its sides, else its minimum-area
    rectangle; clockwise from the corner nearest the image's top-left, widened by ``margin`` of its
    size about its centre. ValueError when there is no such quad (under three finite points, two
    corners within 1 px, or under 4 px² of area).

    OpenCV is imported here, not with the module: the config models import this file, and every command's
    parser (``edge-agent --help``) with them, which need no OpenCV (~0.1 s of CPU)."""
    import cv2

    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2) if len(polygon) else np.zeros((0, 2))
    if len(pts) < 3 or not np.isfinite(pts).all():
        raise ValueError(f"bay polygon needs >= 3 finite points, got {pts.tolist()}")
    if np.abs(pts).max() > MAX_COORD_PX:  # finite, but beyond float32 geometry (and any camera)
        raise ValueError(f"bay polygon has a coordinate beyond any camera frame (over {MAX_COORD_PX:g} px): "
                         f"{pts.tolist()}")
    quad = pts if len(pts) == 4 else _four_corners(pts)
    c = quad.mean(axis=0)
    ang = np.arctan2(quad[:, 1] - c[1], quad[:, 0] - c[0])
    quad = quad[np.argsort(ang)]  # clockwise on screen (y down)
    quad = np.roll(quad, -int(np.argmin(quad[:, 0] + quad[:, 1])), axis=0)
    quad = c + (quad - c) * (1.0 + 2.0 * margin)
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    if sides.min() < MIN_SIDE_PX or abs(cv2.contourArea(quad.astype(np.float32))) < MIN_AREA_PX2:
        raise ValueError(f"bay polygon is degenerate (two corners within {MIN_SIDE_PX:g} px of each other, or "
                         f"under {MIN_AREA_PX2:g} px² of area): {pts.tolist()}")
    out: np.ndarray = quad.astype(np.float32)
    return out


def _four_corners(pts: np.ndarray) -> np.ndarray:
    """A bay drawn with other points than its four corners: the corners themselves when the extra
    points lie on its sides (a click in the middle of an edge must not turn the crop), else the polygon's
    minimum-area rectangle. "On its sides": within 2 % of the outline's length (Douglas-Peucker)."""
    import cv2

    curve = pts.astype(np.float32).reshape(-1, 1, 2)
    simple = cv2.approxPolyDP(curve, SIDE_TOLERANCE * cv2.arcLength(curve, True), True).reshape(-1, 2)
    if len(simple) == 4:
        return simple.astype(np.float64)
    return cv2.boxPoints(cv2.minAreaRect(curve)).astype(np.float64)


def concave_corner(quad: np.ndarray) -> tuple[float, float] | None:
    """The corner of ``bay_quad``'s quad (clockwise on screen) that points inward by more than
    ``CONCAVE_TOLERANCE_DEG``, or None when the quad is convex. A bay is a rectangle on the ground, and
    a camera's view of a flat convex shape is convex: a concave quad is a misplaced click. Its crop is no
    picture of it: the perspective warp onto the square sends the line through the bent corner to
    infinity and folds the picture over (ground outside the outline, mirrored, stands for the bay)."""
    q = quad.astype(np.float64)
    a = np.roll(q, -1, axis=0) - q  # side leaving each corner
    b = np.roll(a, 1, axis=0)  # side arriving at it
    turn = (b[:, 0] * a[:, 1] - b[:, 1] * a[:, 0]) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    i = int(np.argmin(turn))
    if turn[i] < -np.sin(np.deg2rad(CONCAVE_TOLERANCE_DEG)):
        return float(q[i, 0]), float(q[i, 1])
    return None


def quad_problem(polygon: Sequence[tuple[float, float]]) -> str:
    """Why a bay polygon cannot be cropped ("" when it can): for validators that name the key. Beyond what
    ``bay_quad`` refuses, a concave quad (``concave_corner``): the crop would warp it, but onto folded ground.
    The crop itself takes one (training's jittered outlines may bend a corner), the config and labels do not."""
    try:
        quad = bay_quad(polygon)
    except ValueError as exc:
        return str(exc)
    corner = concave_corner(quad)
    if corner is not None:
        return (f"bay polygon is concave at its corner ({corner[0]:g}, {corner[1]:g}): a bay seen by a camera is a "
                "convex quadrilateral, and the crop of this one folds the picture over; move that corner out past "
                f"the line between its neighbours: {np.asarray(polygon, np.float64).reshape(-1, 2).tolist()}")
    return ""
