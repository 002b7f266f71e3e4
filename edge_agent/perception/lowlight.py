"""A dark photo's copies for a last detector pass, when no plate was found in the photo itself.

Why: the detector sees a night photo's plate at a fifth of its contrast and under the sensor's noise
(plates-dev at light × 0.2, noise σ 7: a fifth of the plates not found, at every width). Brightening
alone amplifies the noise with the plate; smoothing first keeps the plate's edges above it.
Two copies, each found plates the other did not: a gain to a mid-grey median then a light blur
(the camera's own auto-exposure, late), and a blur then local contrast (CLAHE on lightness), which
lifts a plate in a dark corner of a lit scene. A plate found on one is read, and its colour judged, on
that copy: a dark photo's yellow reads as white (the gain and the blur keep the hue).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

#: A photo darker than this median luma (a quarter of full scale) is dark: a lit scene's median is 80–160
DARK_MEDIAN = 64
MID_GREY = 110.0  # the median a gain brings a dark photo to
_SAMPLE = 256  # the median is taken on a copy this many px on its long side


def median_luma(image: np.ndarray) -> float:
    h, w = image.shape[:2]
    step = max(1, max(h, w) // _SAMPLE)
    small = image[::step, ::step]
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return float(np.median(grey))


def _lifted(image: np.ndarray, median: float) -> np.ndarray:
    """The photo under a linear gain that brings its ``median`` luma to mid-grey: a camera's exposure, late."""
    return cv2.convertScaleAbs(image, alpha=MID_GREY / max(median, 1.0))


def brightened(image: np.ndarray) -> Iterator[np.ndarray]:
    """The copies of a dark photo (none of a lit one), in the order they are worth a pass."""
    m = median_luma(image)
    if m >= DARK_MEDIAN or image.ndim != 3:
        return
    yield cv2.GaussianBlur(_lifted(image, m), (5, 5), 0)
    lab = cv2.cvtColor(cv2.GaussianBlur(image, (5, 5), 0), cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(3.0, (8, 8)).apply(lab[..., 0])
    yield cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
