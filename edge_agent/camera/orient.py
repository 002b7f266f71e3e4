"""Turning the camera's frames upright: ``camera.rotate`` (degrees clockwise) then ``camera.flip``.

A camera under a shelter roof or on a ceiling is mounted upside down or sideways, and the plate
detector and recogniser read upright text only: an upside-down view read no plate at all. The
agent turns every frame once, where it enters the loop, so everything after it — bay polygons,
plate reading, evidence photos, the live and installer pages, camera-shift registration — sees
one upright view. On a 1080p frame (x86 core) a half turn or a mirror costs ~1.5 ms, a quarter turn ~15 ms (a
transpose, cache-unfriendly) — small beside the detector; with the defaults the frame is passed on untouched.

``key`` names what the transform does, not how it was written: ``rotate: 180, flip: horizontal``
and ``flip: vertical`` are one view, so switching between them does not read as a turned camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

ROTATIONS = (0, 90, 180, 270)
FLIPS = ("none", "horizontal", "vertical")
_ROTATE_CODE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
_FLIP_CODE = {"horizontal": 1, "vertical": 0}  # cv2.flip: 1 mirrors left-right, 0 top-bottom
_PROBE = np.arange(6, dtype=np.uint8).reshape(2, 3)  # asymmetric: each of the 8 views turns it differently


@dataclass(frozen=True)
class Orientation:
    """How the camera's frames are turned before anything looks at them."""

    rotate: int = 0  # degrees clockwise: 0, 90, 180, 270
    flip: str = "none"  # none | horizontal | vertical, applied after rotate

    def __post_init__(self) -> None:
        if self.rotate not in ROTATIONS or self.flip not in FLIPS:
            raise ValueError(f"rotate must be one of {ROTATIONS} and flip one of {FLIPS}")

    @classmethod
    def of(cls, camera: Any) -> Orientation:  # noqa: ANN401 - a CameraConfig, or anything with rotate/flip
        return cls(getattr(camera, "rotate", 0), getattr(camera, "flip", "none"))

    @property
    def identity(self) -> bool:
        return self.key is None

    @property
    def swaps(self) -> bool:
        """A quarter turn: the upright frame is the camera's frame with width and height exchanged."""
        return self.rotate in (90, 270)

    @property
    def key(self) -> str | None:
        """What the transform does (None: nothing), the same for two spellings of one view."""
        out = self.apply(_PROBE)
        return None if out.shape == _PROBE.shape and np.array_equal(out, _PROBE) else \
            f"{out.shape[0]}x{out.shape[1]}:" + "".join(map(str, out.ravel()))

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` turned upright; the same array when there is nothing to do. A frame that is no
        image (not a 2-D or 3-D array) passes untouched: OpenCV would raise, ending the frame loop,
        where the camera's health check counts it as corrupt."""
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
            return image
        if self.rotate:
            image = cv2.rotate(image, _ROTATE_CODE[self.rotate])
        if self.flip != "none":
            image = cv2.flip(image, _FLIP_CODE[self.flip])
        return image

    def upright_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the upright frame for a camera frame of ``size``."""
        return (size[1], size[0]) if self.swaps else size

    def to_camera(self, points: Any, upright_size: tuple[int, int]) -> np.ndarray:  # noqa: ANN401 - array-like
        """Points (x, y) of the upright frame (of ``upright_size`` = width, height) in the camera
        frame's pixels: what ``recognize --rotate`` reports, so coordinates stay the file's."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        w, h = upright_size
        x, y = pts[:, 0].copy(), pts[:, 1].copy()
        if self.flip == "horizontal":  # undo in reverse order: the flip was applied last
            x = (w - 1) - x
        elif self.flip == "vertical":
            y = (h - 1) - y
        if self.rotate == 90:  # upright (x, y) came from camera (y, H_cam - 1 - x); H_cam = upright width
            x, y = y, (w - 1) - x
        elif self.rotate == 180:
            x, y = (w - 1) - x, (h - 1) - y
        elif self.rotate == 270:  # upright (x, y) came from camera (W_cam - 1 - y, x); W_cam = upright height
            x, y = (h - 1) - y, x
        return np.stack([x, y], axis=1)

    def describe(self) -> str:
        parts = ([f"rotate {self.rotate}"] if self.rotate else []) + ([f"flip {self.flip}"] if self.flip != "none" else [])
        return ", ".join(parts) or "upright"


def all_orientations() -> list[Orientation]:
    """The eight distinct views (the twelve settings name some twice), one setting each."""
    seen: dict[str | None, Orientation] = {}
    for r in ROTATIONS:
        for f in FLIPS:
            o = Orientation(r, f)
            seen.setdefault(o.key, o)
    return list(seen.values())
