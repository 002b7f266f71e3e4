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

A bay too few of the camera's own pixels across is guessed, not seen: drawn far from the camera, or
drawn on the main stream while the camera sends a smaller one (scaled up to the bays' size, which
restores the size but not the detail). On bays-dev's PKLot frames reduced 1-12x (12,000 bay crops,
per bay's short side in the reduced frame): at 8 px and more, no parked car read surely empty
(``p <= exit_p``); at 6-8 px 21 of 685 did, at 4-6 px 70 of 777, at 2-4 px 106 of 330. Such a bay
(``bay_too_small``) is still classified, for occupancy, but its view vouches for no empty bay.

A block the camera paints over part of a bay (its privacy mask, the box behind its on-screen text) is
drawn after the sensor: one exact grey level, no noise, no gradient. The classifier reads a grey block over
half a bay as asphalt (82 of 421 real parked cars surely empty, probe occ35). Light through a lens onto a
sensor never gives that except where the sensor clips at its white point: so a crop in which one connected
patch of a single exact grey level (each pixel's 3x3 neighbourhood that same level) covers ``PAINTED_SHARE``
or more, below ``WHITE_CLIP``, is ``bay_overlay`` and no measurement, as a flat crop is (black included: a
camera's black mask decodes to 0, as crushed black does). Measured (probe mask36) on the 17,911 real crops:
the largest such patch below ``WHITE_CLIP`` covers at most 0.057 of a crop (NORPark; CNRPark camera B's
low-bitrate crops 0.021, though up to 0.375 of their 8x8 cells have a spread under 1: flat-looking ground
still varies by a level or two); the only larger ones, up to 0.384, are white clipped at 241 (a white car in
the sun). A grey block over half of each of the 1,200 PKLot bays' boxes is flagged on all 1,200, through JPEG
85 or 40. The cost: a stream coded far harder than these (the same crops at JPEG quality 20) flattens
smooth ground too, and 1.6-8.6 % of its crops are not measured (the safe side). docs/occupancy.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from edge_agent.quad import bay_quad

FLAT_STD = 2.0  # grey std below this: nothing to see (the camera's whole-frame flat_level default too)
CLIPPED_SHARE = 0.45  # more than this share of pixels burnt out or crushed: the bay is not seen
DARK, BRIGHT = 5, 250
PAINTED_SHARE = 0.15  # one exact grey level over this share of the crop, in one piece: painted, not seen
WHITE_CLIP = 230  # at or above: a sensor's clipped white (real crops: 241 over up to 0.384), not a painted block
SOLIDITY = 0.8  # one convex piece: a painted block's pixels fill this share of its convex hull (dusk blobs: ~0.7)
_3X3 = np.ones((3, 3), np.uint8)
MIN_BAY_PX = 8.0  # a bay's short side in the camera's own pixels under which parked cars start to read empty


def crop_problem(crop_bgr: np.ndarray) -> str | None:
    """``bay_flat`` / ``bay_clipped`` / ``bay_overlay`` (a painted block) when the crop shows too little to
    judge the bay, else None."""
    return judge(*measure(crop_bgr))


def measure(crop_bgr: np.ndarray) -> tuple[float, float, float]:
    """The crop's grey spread (std), the share of its pixels at ≤ ``DARK`` or ≥ ``BRIGHT``, and its
    ``painted_share``."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY) if crop_bgr.ndim == 3 else crop_bgr
    spread = float(cv2.meanStdDev(grey)[1][0, 0])
    clipped = (np.count_nonzero(grey <= DARK) + np.count_nonzero(grey >= BRIGHT)) / max(grey.size, 1)
    return spread, clipped, painted_share(grey)


def painted_share(grey: np.ndarray) -> float:
    """The share of the crop the largest 4-connected patch of one exact grey level under ``WHITE_CLIP`` covers,
    counting the pixels whose 3x3 neighbourhood is all that level (the block's inside: a codec's ringing at its
    edge is left out). Only levels with ``PAINTED_SHARE`` of such pixels are looked at (0 when none), so a real
    crop costs two 3x3 filters and a histogram."""
    grey = np.ascontiguousarray(grey)
    spread = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, _3X3)  # each pixel's 3x3 max - min
    need = PAINTED_SHARE * grey.size
    if grey.size - cv2.countNonZero(spread) < need:  # the common case, a real crop: a few µs
        return 0.0
    inside = spread == 0
    counts = np.bincount(grey[inside], minlength=256)[:WHITE_CLIP]
    best = 0
    for level in np.flatnonzero(counts >= need):
        if counts[level] <= best:
            continue
        one = (inside & (grey == level)).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(one, connectivity=4)
        if n > 1:
            i = 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())
            if stats[i, cv2.CC_STAT_AREA] > best and _convex((labels == i).astype(np.uint8)):
                best = int(stats[i, cv2.CC_STAT_AREA])
    return best / max(grey.size, 1)


def _convex(patch: np.ndarray) -> bool:
    """Do the patch's pixels fill ``SOLIDITY`` of its convex hull (holes in it count against it)?

    Why: a block the camera paints is a rectangle in the frame, so a convex quadrilateral in the crop (its inside,
    less the codec's ringing at its edge, still one). Smooth ground a camera darkens, smooths (its noise reduction)
    and codes hard comes out in blobs of one level too, but ragged ones, their outline following the shading
    (probe review67: real crops at a fifth of the light, smoothed, JPEG 50: 24 % of NORPark's empty bays flagged;
    with this, 2.5 %; of 8,400 grey blocks painted over PKLot bays 31 fewer flagged, 1 of them over a car read surely empty)."""
    contours, _ = cv2.findContours(patch, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=cv2.contourArea)
    hull = float(cv2.contourArea(cv2.convexHull(outline)))
    return hull > 0 and cv2.countNonZero(patch) >= SOLIDITY * hull


def judge(spread: float, clipped_share: float, painted: float = 0.0) -> str | None:
    if spread < FLAT_STD:
        return "bay_flat"
    if clipped_share > CLIPPED_SHARE:
        return "bay_clipped"
    if painted >= PAINTED_SHARE:
        return "bay_overlay"
    return None


def pixels_across(polygon: Sequence[tuple[float, float]], scale: float = 1.0) -> float:
    """The bay's short side in the camera's own pixels: its crop quad's shortest side (in the pixels the
    bays are drawn on) times ``scale``, the camera's pixels per drawing pixel (under 1: a smaller stream).
    0 for a polygon with no quad (validation refuses one; this must not be what lets it through)."""
    try:
        quad = bay_quad(polygon)
    except ValueError:
        return 0.0
    return float(np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1).min()) * scale


def too_small(polygons: Mapping[str, Sequence[tuple[float, float]]], scale: float) -> dict[str, str]:
    """``{bay: "bay_too_small"}`` for each bay under ``MIN_BAY_PX`` of the camera's pixels across."""
    return {b: "bay_too_small" for b, poly in polygons.items() if not pixels_across(poly, scale) >= MIN_BAY_PX}
