"""Has a bay's picture lost its fine detail with nothing moving in it? Then the camera no longer sees it well.

Why: a raindrop, a smear or fog settling on the dome over a few bays, or a lens knocked out of focus, keeps the
bay's contrast (so ``bays.blank`` passes it) but washes out the edges the classifier reads a car by: a parked car
under a drop reads surely empty (p ≤ 0.3; a drop painted over rows B/C of the live-like 2013-03-19 clip left two
parked cars confidently empty for 84 s and 81 s). Nothing in one frame tells a blurred bay from a smooth one, so
each bay is judged against its own recent sharp picture: its fine detail — the mean Laplacian of the crop smoothed
by 1 px (above the sensor's and the JPEG's noise), per grey level of spread, which a change of light or contrast
leaves and a Gaussian blur of σ px cuts by about 1/(1+σ²) — fallen under ``LOST`` of the reference's, **with
nothing moving in the bay** (the change gate quiet). A car leaving takes its edges away too, but it moves: that
picture is the bay's new reference. Dusk, a camera's night denoising or slow fog lower the detail over minutes,
and the reference follows them (it is the sharpest recent picture, its detail halving every ``HALF_LIFE_S``).
Once flagged the bay stays blurred, whatever moves under the drop, until its detail is back to ``BACK`` of the
reference. A blurred bay is still classified (occupancy), but its view vouches for no empty bay (``bay_blurred``:
the lock interlock refuses a raise), like ``bay_too_small``.

Measured (probe blur26): on bays-dev, 35,442 pairs of the same bay's crops minutes apart (17,911 crops, four
lots, cars coming and going — nothing to tell motion here) fell under ``LOST`` in 19 (0.05 %); the 0.1st
percentile of the ratio is 0.41.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

BLURRED = "bay_blurred"
LOST = 0.35  # fine detail under this share of the reference's, nothing moving: blurred (σ ≈ 1.5 px of the 64 px crop)
BACK = 0.7  # a blurred bay's detail back to this share of its reference: sharp again
HALF_LIFE_S = 20.0  # the reference's detail halves over this: slow changes (dusk, denoising, fog) follow it
SMOOTH_PX = 1.0  # the crop is smoothed this much first: the sensor's and the codec's pixel noise is no detail


def detail(grey: np.ndarray) -> float:
    """Mean |Laplacian| of the crop smoothed by ``SMOOTH_PX``, per grey level of spread: fine detail above the
    pixel noise, whatever the light and contrast."""
    g = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), SMOOTH_PX)
    return float(np.mean(np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=1)))) / (float(np.std(g)) + 1.0)


def grey_of(crop_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY) if crop_bgr.ndim == 3 else crop_bgr


@dataclass
class _Ref:
    detail: float
    at: float
    blurred: bool = False


class BlurWatch:
    """Per bay: is its picture now a blurred copy of its recent sharp one (``see``)?"""

    def __init__(self) -> None:
        self._ref: dict[str, _Ref] = {}

    def see(self, bay: str, crop_bgr: np.ndarray, now: float, moved: bool) -> str | None:
        """``bay_blurred`` while the bay's crop has lost its fine detail against its recent sharp picture, the loss
        not brought by something moving in the bay (``moved``: the change gate opened within this look's interval)."""
        d = detail(grey_of(crop_bgr))
        ref = self._ref.get(bay)
        if ref is not None and ref.blurred:
            if d >= BACK * ref.detail:
                self._ref[bay] = _Ref(d, now)
                return None
            return BLURRED
        held = 0.0 if ref is None else ref.detail * 0.5 ** (max(now - ref.at, 0.0) / HALF_LIFE_S)
        if ref is None or moved or d >= held:  # the first, another picture, or the sharpest recent one
            self._ref[bay] = _Ref(d, now)
        elif d < LOST * held:
            ref.blurred, ref.detail = True, held
            return BLURRED
        return None

    def adopt(self, old: BlurWatch, bays: Iterable[str]) -> None:
        """A reload: ``bays`` (their pixels the same) keep their reference; a redrawn bay starts over."""
        self._ref.update({b: old._ref[b] for b in bays if b in old._ref})
