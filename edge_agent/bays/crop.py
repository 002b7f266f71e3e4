"""The one bay crop: what the occupancy classifier sees of a bay, in training, eval and the agent.

Method: the polygon's axis-aligned bounding box, widened by ``MARGIN`` of its size on every side
(a parked car stands up out of its ground polygon and overhangs it), its short side then widened
until the box is at most ``MAX_ASPECT``:1, and that box resized to a ``size`` x ``size`` square.

Why not a perspective rectification of the polygon: the polygon lies on the ground, the car
does not; in an oblique view rectifying the ground cuts off the roof and shears the body
differently in every bay, while the training patches (CNRPark, NORPark) are axis-aligned views
of the slot. Why not a plain square around the box: a long side-on bay would then take in the
cars of the neighbouring row and read "occupied" when empty. The stretch left over (≤ 1.5x)
is covered by the aspect jitter in training. Pixels outside the frame repeat the border.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

CROP_SIZE = 64
MARGIN = 0.15  # share of the box's own width / height added on each side
MAX_ASPECT = 1.5  # long side / short side of the box before the resize to a square


def crop_box(polygon: Sequence[tuple[float, float]]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the crop in frame pixels for ``polygon`` (floats; may leave the frame)."""
    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3 or not np.isfinite(pts).all():
        raise ValueError(f"bay polygon needs >= 3 finite points, got {pts.tolist()}")
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    w, h = w * (1 + 2 * MARGIN), h * (1 + 2 * MARGIN)
    w, h = max(w, h / MAX_ASPECT), max(h, w / MAX_ASPECT)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _resample(img: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Cut ``box`` out of ``img`` into a size x size uint8 BGR square (one affine warp: sub-pixel
    exact, border replicated, area-like smoothing by a pre-shrink when the box is much larger)."""
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    x0, y0, x1, y1 = box
    # Shrink big boxes first with INTER_AREA so a 600-px bay does not alias into 64 px.
    shrink = min((x1 - x0) / size, (y1 - y0) / size)
    if shrink > 2.0:
        f = 1.0 / (shrink / 1.5)
        h, w = img.shape[:2]
        bx0, by0 = max(int(np.floor(x0)) - 2, 0), max(int(np.floor(y0)) - 2, 0)
        bx1, by1 = min(int(np.ceil(x1)) + 2, w), min(int(np.ceil(y1)) + 2, h)
        if bx1 > bx0 and by1 > by0:
            part = img[by0:by1, bx0:bx1]
            nw, nh = max(1, round(part.shape[1] * f)), max(1, round(part.shape[0] * f))
            img = cv2.resize(part, (nw, nh), interpolation=cv2.INTER_AREA)
            fx, fy = nw / part.shape[1], nh / part.shape[0]
            x0, x1 = (x0 - bx0) * fx, (x1 - bx0) * fx
            y0, y1 = (y0 - by0) * fy, (y1 - by0) * fy
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    m = np.array([[sx, 0.0, -x0 * sx + 0.5 * sx - 0.5], [0.0, sy, -y0 * sy + 0.5 * sy - 0.5]])
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def bay_crop(frame_bgr: np.ndarray, polygon: Sequence[tuple[float, float]], size: int = CROP_SIZE) -> np.ndarray:
    """The bay's crop from a full frame: ``size`` x ``size`` uint8 BGR (see the module docstring)."""
    if frame_bgr is None or frame_bgr.size == 0:
        raise ValueError("bay_crop: empty frame")
    return _resample(frame_bgr, crop_box(polygon), size)


def patch_crop(patch_bgr: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """A crop from an image that is already a bay patch (the dataset's CNRPark / NORPark crops).

    The patch stands for the widened box (its source framed the slot with its own margin), so
    only the aspect limit and the resize apply — the same steps a frame crop goes through.
    """
    if patch_bgr is None or patch_bgr.size == 0:
        raise ValueError("patch_crop: empty patch")
    h, w = patch_bgr.shape[:2]
    bw, bh = max(w, h / MAX_ASPECT), max(h, w / MAX_ASPECT)
    cx, cy = w / 2, h / 2
    return _resample(patch_bgr, (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), size)
