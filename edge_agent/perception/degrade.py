"""Degraded copies of a frame for ``edge-agent eval --degrade``: robustness measured, not hoped.

Why these seven: they are what an outdoor charging-bay camera really sends — a car still
moving (motion blur), a lens out of focus or fogged (defocus), dusk with the sensor's gain up
(low light + noise), a starved uplink (JPEG quality 20), a lower stream resolution (half
size), the camera's night mode (infrared, greyscale) and rain on the lens (streaks).
Each is deterministic: the noise is seeded from the image's size, so two runs agree.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Degrade = Callable[[np.ndarray], np.ndarray]


def _rng(img: np.ndarray, salt: int) -> np.random.Generator:
    h, w = img.shape[:2]
    return np.random.default_rng((h * 7919 + w) * 31 + salt)


def motion_blur(img: np.ndarray, length: int = 9) -> np.ndarray:
    """Horizontal motion over ``length`` px of a 1080p frame (scaled to the image)."""
    n = max(3, round(length * max(img.shape[:2]) / 1920) | 1)
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0 / n
    return cv2.filter2D(img, -1, k)


def defocus(img: np.ndarray, radius: int = 3) -> np.ndarray:
    """A disc (out-of-focus) blur of ``radius`` px at 1080p."""
    r = max(1, round(radius * max(img.shape[:2]) / 1920))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)).astype(np.float32)
    return cv2.filter2D(img, -1, k / k.sum())


def low_light(img: np.ndarray, gain: float = 0.3, sigma: float = 6.0) -> np.ndarray:
    """A third of the light, then sensor noise on what is left."""
    dark = img.astype(np.float32) * gain
    noisy = dark + _rng(img, 1).normal(0.0, sigma, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def jpeg_q20(img: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 20])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


def half_size(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)


def night_ir(img: np.ndarray) -> np.ndarray:
    """IR night mode: one channel (plates' retro-reflective background glows), flat contrast,
    noise; handed over as 3 equal channels like real cameras do."""
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    grey = 40 + 0.7 * grey + _rng(img, 2).normal(0.0, 4.0, grey.shape)
    g = np.clip(grey, 0, 255).astype(np.uint8)
    return cv2.merge([g, g, g])


def rain(img: np.ndarray, drops: int = 400) -> np.ndarray:
    """Bright slanted streaks (per 1080p frame, scaled to the area) and a slight haze."""
    h, w = img.shape[:2]
    rng = _rng(img, 3)
    layer = np.zeros((h, w), np.float32)
    n = int(drops * h * w / (1920 * 1080))
    length = max(6, h // 40)
    xs, ys = rng.integers(0, w, n), rng.integers(0, h, n)
    for x, y in zip(xs, ys):
        cv2.line(layer, (int(x), int(y)), (int(x + length // 4), int(y + length)), 1.0, 1)
    layer = cv2.GaussianBlur(layer, (3, 3), 0)
    out = img.astype(np.float32) * 0.9 + 20 + layer[..., None] * 90
    return np.clip(out, 0, 255).astype(np.uint8)


DEGRADATIONS: dict[str, Degrade] = {
    "motion_blur": motion_blur,
    "defocus": defocus,
    "low_light_noise": low_light,
    "jpeg_q20": jpeg_q20,
    "half_size": half_size,
    "night_ir": night_ir,
    "rain": rain,
}
