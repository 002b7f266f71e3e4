"""Is a "yellow" small NEV plate a green one under warm light, a "green" 7-character plate a yellow one under cold
light? (colour constancy, asked only on a conflict)

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

The cold half (``cold_yellow``) is the same engineer's rule the other way round: a blue sky, shade or an 8000 K+
LED turns a yellow plate green (hue past 34: 21 of 27 plates-dev yellow plates under a cold daylight cast), and its
complete 7-character civil read on green stayed undecided (``conflict``; GA 36 gives a dark-character green plate 8
characters, so one was taken as skipped). When **both** estimates say the light is cold (log B/R ≥ ``COLD_MIN``)
and the background divided by **each** is clearly yellow (hue ≤ ``HUE_YELLOW_MAX``), the plate is yellow — a
7-character yellow plate, "not NEV". Measured (photos30 probe, docs/perception.md): yellow plates corrected 10–31
(one at 48 under 16000 K, left); green NEV plates 50–101 (the lower of the two estimates' hues: 36–61), the large
NEV's two-tone 38–68; clean photos never both cold (the largest log B/R of the lower estimate 0.24). Those margins
alone did not hold: a blue sky in the frame made both estimates "cold" under neutral light and a real NEV plate
corrected to yellow (review34), so the plate as seen must not be clear green (``HUE_SEEN_MAX``) and each half must
correct yellow on its own (``HALVES``): real NEV plates under six lights, with and without sky, called yellow 3 -> 0.
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
#: log(B / R) of both estimates from which the light is cold: as ``WARM_MIN`` the other way (clean plates-dev
#: frames at most 0.24 for the lower estimate; cold daylight's median 0.79, 16000 K 0.80, blue shade 0.49)
COLD_MIN = 0.3
#: OpenCV hue of the corrected background at or under which it is yellow, no green plate's (NEV plates ≥ 50 by the
#: higher estimate, the large NEV's two-tone ≥ 38 by either; yellow plates corrected 10–31)
HUE_YELLOW_MAX = 32
#: OpenCV hue of the plate's background *as seen* beyond which no correction makes it yellow: a cold light turns a
#: yellow plate lime (plates-dev yellow plates under cold casts: median 30, most under 60), while a plate still seen
#: clear green is an NEV whose pale top a light estimate fooled by the frame (a blue sky as the white patch and in
#: the mean) corrects to pale yellow: plates-dev's 皖AD11166 under *neutral* light with a sky band, 72 -> 14-20
HUE_SEEN_MAX = 60
#: the inner plate's left and right halves, each asked on its own: a large NEV plate is yellow on the left and
#: green on the right, and their mean (the two-tone faded, under a blue sky) corrected to yellow
HALVES = ((0.0, 0.5), (0.5, 1.0))
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


def cold_yellow(frame_bgr: np.ndarray, crop_bgr: np.ndarray) -> bool:
    """True when the frame's light is cold by grey world and white patch, and the plate in ``crop_bgr``,
    corrected by either estimate, is clearly yellow: a yellow plate a cold white balance turned green."""
    lights = _illuminants(frame_bgr)
    if lights is None or any(np.log(light[0] / light[2]) < COLD_MIN for light in lights):
        return False
    for part in HALVES:  # a yellow plate is yellow across; the large NEV's right part is green
        bg = _background(crop_bgr, part)
        if bg is None or (seen := _hue_sat(bg)) is None or seen[0] > HUE_SEEN_MAX:
            return False
        if not all(_yellow(bg / light) for light in lights):
            return False
    return True


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


def _background(crop_bgr: np.ndarray, part: tuple[float, float] = (0.0, 1.0)) -> np.ndarray | None:
    """Mean linear BGR of the inner plate's brighter half: the background of dark characters. ``part``: the
    share of the inner plate's width looked at, from its left."""
    img = cv2.resize(crop_bgr, WORK_SIZE, interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    x0, x1 = COLS[0] + (COLS[1] - COLS[0]) * part[0], COLS[0] + (COLS[1] - COLS[0]) * part[1]
    inner = img[int(h * ROWS[0]):int(h * ROWS[1]), int(w * x0):int(w * x1)].reshape(-1, 3)
    lin = _LIN[inner]
    luma = lin @ _LUMA
    bg = lin[luma >= np.median(luma)]
    return bg.mean(axis=0) if len(bg) else None


def _hue_sat(bgr_lin: np.ndarray) -> tuple[int, int] | None:
    """OpenCV hue (0..180) and saturation (0..255) of a linear BGR colour, scaled to its brightest channel."""
    top = float(bgr_lin.max())
    if top <= 0:
        return None
    x = np.clip(bgr_lin / top, 0, 1)
    enc = np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)
    hue, sat, _ = cv2.cvtColor((enc * 255).astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_BGR2HSV)[0, 0]
    return int(hue), int(sat)


def _green(bgr_lin: np.ndarray) -> bool:
    hs = _hue_sat(bgr_lin)
    return hs is not None and HUE_GREEN_MIN <= hs[0] <= HUE_GREEN_MAX and hs[1] >= SAT_MIN


def _yellow(bgr_lin: np.ndarray) -> bool:
    hs = _hue_sat(bgr_lin)
    return hs is not None and hs[0] <= HUE_YELLOW_MAX and hs[1] >= SAT_MIN
