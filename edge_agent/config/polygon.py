"""Polygon rules shared by the sections that draw on the camera's frame (``bays[].polygon``, ``camera.masks``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Strict

#: An (x, y) pair: YAML writes it as a list, so the pair itself is lax (list → tuple), its numbers strict.
Point = Annotated[tuple[Annotated[float, Strict()], Annotated[float, Strict()]], Strict(False)]

MAX_FRAME_PX = 16384  # camera.width / height's ceiling: no frame is larger

def polygon_area(pts: list[tuple[float, float]]) -> float:
    return 0.5 * abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1])))


def edges_cross(pts: list[tuple[float, float]]) -> tuple[int, int] | None:
    """The first two sides (indices of their first points) that cross each other, or None.

    Why: a bay's outline masks its change gate and decides which plates lie in it, while its crop
    sorts the corners itself; corners clicked out of order (a bow tie) masked two triangles of the
    bay and cropped a rectangle, so the parts disagreed on where the bay is."""
    def side(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        for j in range(i + 2, n if i else n - 1):  # sides that share no corner with side i
            c, d = pts[j], pts[(j + 1) % n]
            if side(c, d, a) * side(c, d, b) < 0 and side(a, b, c) * side(a, b, d) < 0:
                return i, j
    return None


def mask_problem(pts: list[tuple[float, float]], width: int | None, height: int | None) -> str | None:
    """Why ``pts`` is no mask on the camera's frame (``camera.masks[]``), or None: the bay outline's rules that say
    where the pixels are (≥ 3 points, non-negative, sides that do not cross, an area), and inside the frame when its
    size is given. Why the same: a mask is filled in on the picture the bays are judged on, and the bays it covers
    vouch for no empty bay; one with its corners clicked out of order, or in a line, covers something else than
    what the installer drew."""
    if len(pts) < 3:
        return "needs at least 3 points (a box is its 4 corners)"
    if not all(x >= 0 and y >= 0 for x, y in pts):  # written so that a NaN fails it
        return "points must have non-negative pixel coordinates"
    if width and height:
        outside = [(x, y) for x, y in pts if not (x <= width and y <= height)]
        if outside:
            x, y = outside[0]
            return f"point ({x:g}, {y:g}) is outside the {width}x{height} camera frame"
    elif not all(x <= MAX_FRAME_PX and y <= MAX_FRAME_PX for x, y in pts):
        return f"a point is beyond any camera frame (over {MAX_FRAME_PX} px)"
    crossing = edges_cross(pts)
    if crossing:
        i, j = crossing
        return (f"the side from point {i} to point {i + 1} crosses the one from point {j} to point "
                f"{(j + 1) % len(pts)}: list the points in order around the masked area")
    if not polygon_area(pts) >= 1.0:
        return "points are in a line (the polygon encloses under 1 square pixel)"
    return None
