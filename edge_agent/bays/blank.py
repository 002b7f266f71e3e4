"""Does the camera show anything of a bay? A bay it sees as a uniform or burnt-out patch is no evidence.

Why: the occupancy classifier reads "no texture" as empty asphalt. The shipped model gives every
uniform 64x64 crop, black to white, p_occupied 0.026, and a crop half blown out 0.28 (under
``exit_p``): a leaf or a smudge on the lens over one bay, sun glare or headlights, an unlit corner
at night, fog — each read as a confident "empty" that would let a lock rise and close a visit. The
camera health's black / flat checks judge the whole frame and miss one blinded bay.

Measured on bays-dev with the agent's own crop (17,911 real crops, four lots, empty and occupied):
grey spread (std) at least 3.47 on every one (1st percentile 4.75 on the flattest lot's empty bays),
and at most 30 % of a crop's pixels at the ends of the range (a white car in sun). So a crop whose
spread is below ``FLAT_STD`` is ``bay_flat`` and one with more than ``CLIPPED_SHARE`` of its pixels at
≤ ``DARK`` or ≥ ``BRIGHT`` is ``bay_clipped``: not a measurement (``BayClassifier.classify`` checks
the crop it makes and leaves the bay unclassified), the verdict holds, unconfident.
On 3,200 of those crops (PKLot's 1,200 and 2,000 patches; 1,639 occupied; 18 of them called empty as
they are), the classifier called empty: with half of each crop burnt out, 341; with 60 %, 1,572;
with the contrast cut to 5 % (dark, fog or glare, plus sensor noise and JPEG), 1,486–1,495. The rule
leaves 0 of the burnt-out ones and 154–763 of the low-contrast ones.
"""

from __future__ import annotations

import cv2
import numpy as np

FLAT_STD = 2.0  # grey std below this: nothing to see (the camera's whole-frame flat_level default too)
CLIPPED_SHARE = 0.45  # more than this share of pixels burnt out or crushed: the bay is not seen
DARK, BRIGHT = 5, 250


def crop_problem(crop_bgr: np.ndarray) -> str | None:
    """``bay_flat`` / ``bay_clipped`` when the crop shows too little to judge the bay, else None
    (about 17 µs for a 64x64 crop: OpenCV's std and two counts, a third of the numpy way)."""
    return judge(*measure(crop_bgr))


def measure(crop_bgr: np.ndarray) -> tuple[float, float]:
    """The crop's grey spread (std) and the share of its pixels at ≤ ``DARK`` or ≥ ``BRIGHT``."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY) if crop_bgr.ndim == 3 else crop_bgr
    spread = float(cv2.meanStdDev(grey)[1][0, 0])
    return spread, (np.count_nonzero(grey <= DARK) + np.count_nonzero(grey >= BRIGHT)) / max(grey.size, 1)


def judge(spread: float, clipped_share: float) -> str | None:
    if spread < FLAT_STD:
        return "bay_flat"
    if clipped_share > CLIPPED_SHARE:
        return "bay_clipped"
    return None
