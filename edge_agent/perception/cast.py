"""Is a "yellow" small NEV plate a green one under warm light? (colour constancy, asked only on a conflict)

Sodium lamps and tungsten light multiply a scene's red over its blue (in linear light); a green NEV plate
then reads yellow or yellow-green, and a complete small NEV serial on it stays undecided (``verdict``: a
yellow truck plate with one spurious character reads the same). A camera engineer undoes a cast by
dividing by the illuminant, estimated from the frame: grey world (the mean of the unclipped pixels) and
white patch (the mean of their brightest 2 %). Each errs on its own scenes — a frame filled by a yellow
truck is "warm" to grey world, a bright orange sign to white patch — so the plate is called green only when
**both** say the light is warm and the plate's background, divided by **each**, is clearly green (hue
past ``HUE_GREEN_MIN``, not the classifier's 34: yellow plates corrected so measured 9–42 on plates-dev
under nine lights). Measured (cast29 probe, docs/perception.md) as if every plate were such a conflict:
green NEV plates corrected 53–90; no yellow, blue, white or black plate passed under any light.

Asked only for a complete small NEV serial on a plate the classifier called yellow / yellow-green, so a
clean photo and every fuel plate's verdict path cost nothing: the frame is looked at on a conflict only.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.perception.colour import COLS, ROWS, WORK_SIZE

#: log(R / B) of an illuminant estimate above which the light is warm: clean plates-dev frames' median 0.0
#: (90th percentile 0.25 white patch, 0.46 grey world), tungsten's 10th percentile 0.58–0.69, sodium's 1.3
WARM_MIN = 0.3
#: OpenCV hue (0..180) of the corrected background that is green and not a yellow plate's (≤ 42 corrected)
HUE_GREEN_MIN = 50
HUE_GREEN_MAX = 95  # beyond: cyan / blue (colour.HUE_GREEN ends at 90), no green plate
#: saturation (0..255) of the corrected background: the small NEV plate's light top half keeps it pale (down to
#: ~30 on plates-dev, 6–9 for the palest, left undecided); a clipped or washed-out plate has no hue left (1–19)
SAT_MIN = 20
#: pixels of a channel at or above this are clipped: no measure of the light
CLIPPED = 250
#: the frame is subsampled to at most this many pixels for the estimates (a conflict only, still cheap)
SAMPLE = 200_000

_LUMA = np.array([0.0722, 0.7152, 0.2126], np.float32)  # BGR
_LIN = np.where(np.arange(256) / 255 <= 0.04045, np.arange(256) / 255 / 12.92,
                ((np.arange(256) / 255 + 0.055) / 1.055) ** 2.4).astype(np.float32)


def warm_green(frame_bgr: np.ndarray, crop_bgr: np.ndarray) -> bool:
    """True when the frame's light is warm by grey world and white patch, and the plate in ``crop_bgr``
    (the rectified plate), corrected by either estimate, is clearly green."""
    lights = _illuminants(frame_bgr)
    if lights is None or any(np.log(light[2] / light[0]) < WARM_MIN for light in lights):
        return False
    bg = _background(crop_bgr)
    return bg is not None and all(_green(bg / light) for light in lights)


def _illuminants(frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(grey world, white patch) in linear BGR, from the frame's unclipped pixels."""
    step = max(1, int(np.ceil(np.sqrt(frame_bgr.shape[0] * frame_bgr.shape[1] / SAMPLE))))
    px = frame_bgr[::step, ::step].reshape(-1, 3)
    px = px[px.max(axis=1) < CLIPPED]
    if len(px) < 100:
        return None
    lin = _LIN[px]
    luma = lin @ _LUMA
    bright = lin[luma >= np.quantile(luma, 0.98)]
    lights = (lin.mean(axis=0), bright.mean(axis=0))
    if any(light.min() <= 1e-6 for light in lights):
        return None
    return lights


def _background(crop_bgr: np.ndarray) -> np.ndarray | None:
    """Mean linear BGR of the inner plate's brighter half: the background of dark characters."""
    img = cv2.resize(crop_bgr, WORK_SIZE, interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    inner = img[int(h * ROWS[0]):int(h * ROWS[1]), int(w * COLS[0]):int(w * COLS[1])].reshape(-1, 3)
    lin = _LIN[inner]
    luma = lin @ _LUMA
    bg = lin[luma >= np.median(luma)]
    return bg.mean(axis=0) if len(bg) else None


def _green(bgr_lin: np.ndarray) -> bool:
    top = float(bgr_lin.max())
    if top <= 0:
        return False
    x = np.clip(bgr_lin / top, 0, 1)
    enc = np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)
    hue, sat, _ = cv2.cvtColor((enc * 255).astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_BGR2HSV)[0, 0]
    return HUE_GREEN_MIN <= int(hue) <= HUE_GREEN_MAX and int(sat) >= SAT_MIN
