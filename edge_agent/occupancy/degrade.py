"""Degraded copies of labelled frames for ``occupancy eval|folds --degrade``: how the classifier
holds when the light, the weather or the stream gets worse, measured on real bays.

bays-dev has no night, fog or snow, and the hidden cameras do. These are deterministic and written
apart from the training augmentation (``augment.night`` / ``augment.fog``): a sodium-lamp night
here is simulated in linear light with photon noise, which training never draws, so the number is
not the augmentation grading itself. The plates' frame degradations are reused, except the half
size, which would move the polygons.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.perception.degrade import DEGRADATIONS as PLATE_DEGRADATIONS
from edge_agent.perception.degrade import Degrade


def _rng(img: np.ndarray, salt: int) -> np.random.Generator:
    h, w = img.shape[:2]
    return np.random.default_rng((h * 7919 + w) * 31 + salt)


def night_lamp(img: np.ndarray) -> np.ndarray:
    """Night under sodium lamps: 5 % of the light in linear terms, orange, photon and read noise,
    the camera's auto gain lifting the mean back to a dim picture, a little lens softness."""
    lin = (img.astype(np.float32) / 255.0) ** 2.2 * np.array([0.25, 0.6, 1.0], np.float32) * 0.05  # BGR
    rng = _rng(img, 11)
    photons = rng.poisson(lin * 4000.0) / 4000.0 + rng.normal(0.0, 0.0015, lin.shape)
    out = np.clip(photons / max(float(photons.mean()), 1e-4) * 0.12, 0, 1) ** (1 / 2.2)
    out = cv2.GaussianBlur(out.astype(np.float32), (3, 3), 0.6)
    return np.clip(out * 255, 0, 255).astype(np.uint8)


def fog(img: np.ndarray) -> np.ndarray:
    """Fog: 40 % of the scene's light gets through, the rest is grey air light; slightly soft."""
    x = img.astype(np.float32) * 0.4 + np.array([205, 200, 195], np.float32) * 0.6
    return np.clip(cv2.GaussianBlur(x, (0, 0), 0.8), 0, 255).astype(np.uint8)


DEGRADATIONS: dict[str, Degrade] = {
    **{k: v for k, v in PLATE_DEGRADATIONS.items() if k != "half_size"},
    "night_lamp": night_lamp,
    "fog": fog,
}
