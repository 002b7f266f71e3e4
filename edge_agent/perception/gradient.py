"""How much a plate's background changes colour from its top to its bottom, whatever the light's colour.

Why: GA 36 gives the small NEV plate a gradient green background, white at the top fading to green; a blue or
yellow plate is one colour. A coloured light (a green fluorescent tube, sodium, tungsten) changes every colour
on the plate, but it changes them all the same way: a camera's channels are the light times the paint, so in
linear light each channel is multiplied by the light's gain (the diagonal, von Kries, model). A ratio of two
channels at the top over the same ratio at the bottom divides the light out. A uniform plate gives 0 under any
light; the NEV plate's white top over its green bottom gives log(R/G) top minus bottom far above 0 (its red falls
away towards the green bottom, its green does not). So a yellow plate that a green tube made green keeps 0, and a
real small NEV plate keeps its number under any cast.

Measured (plates38 probe, docs/perception.md "The NEV plate's gradient is that evidence"), under five lights:
plates-dev's small NEV plates 0.21–3.5 (the palest, 皖AD11166, 0.21–0.27), yellow plates −0.11–0.094, the
white-character green trap 0.03–0.04. A second light over part of the plate fakes one: white glare over a yellow
plate's bottom half (rendered). Only for dark-character plates: a blue plate's red is near black.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.perception.colour import COLS, ROWS, WORK_SIZE, polarity

#: channel values at or above this are clipped (no ratio left), at or below this too dark to carry one
CLIPPED = 250
DARK = 15
#: the inner plate is cut into this many upright strips, each compared top against bottom on its own, and the median
#: strip's change is the plate's: mud or glare over a character's strip (its own colour, no light's) is outvoted
STRIPS = 16
#: background pixels a strip's third needs, and strips the plate needs, to say anything
STRIP_MIN = 4
STRIPS_MIN = 5
#: added to each linear channel before the ratio: a near-black channel's noise is no colour
EPS = 0.005
#: the top third in less than this share of the bottom third's light (median strip, linear, off the strokes) is under a
#: second light — deep shade over the top on a sunny day (the sky's light alone, bluer than the sunlit bottom's), a
#: light from below — whose colour the ratio would carry: nothing to say. The NEV plate's white top is brighter than
#: its green bottom (plates-dev's small NEV plates 1.14–2.8×), a uniform plate as bright. review65: clear-sky shade
#: over the top of a real NEV plate with its type letter covered (黑AD03210, a quarter of the light, log R/G 0.35–0.45
#: lower) took its change from 0.39 to 0.08 … −0.03, the EV fined; its top then had 0.33× its bottom's light. A yellow
#: plate under a green tube with its top in shade this deep is again NEV by its shape, as before the gate (rendered:
#: top at 0.41× still withdrawn, at 0.31× not)
SHADED = 0.4

_LIN = np.where(
    np.arange(256) / 255 <= 0.04045, np.arange(256) / 255 / 12.92, ((np.arange(256) / 255 + 0.055) / 1.055) ** 2.4
).astype(np.float32)


def top_to_bottom(crop_bgr: np.ndarray | None) -> float | None:
    """The change in log(R/G) from the inner plate's top third to its bottom third (linear light), off the strokes and
    unclipped: each of ``STRIPS`` upright strips gives its top's median minus its bottom's, and the plate the median
    strip's. None where too few strips have background to say. Medians, not the mean colour: white glare over a tenth of
    a green bottom third raised its mean red several-fold (a real NEV plate's type letter under glare measured 0.01–0.09
    so, its clean photo 1.8); per strip, as brown mud over the type letter is most of the background left between the
    strokes in the bottom third (皖ADJ6382: −0.21 by the plate's medians, its clean photo 0.9). None too where the top
    is in far less light than the bottom (``SHADED``): two lights on one plate, the ratio no longer divides one out."""
    if crop_bgr is None or crop_bgr.ndim != 3 or crop_bgr.size == 0:
        return None
    img = cv2.resize(crop_bgr, WORK_SIZE, interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    inner = img[int(h * ROWS[0]) : int(h * ROWS[1]), int(w * COLS[0]) : int(w * COLS[1])]
    gray = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY)
    _dark, strokes, _ = polarity(gray, inner.shape[0])  # asked of dark-character plates: all off the strokes counts
    brightest = inner.max(axis=2)
    mask = ~strokes & (brightest < CLIPPED) & (brightest > DARK)
    lin = _LIN[inner] + EPS
    # each pixel's own log R/G: a glare patch is one vote, not a mean's weight
    chroma = np.log(lin[..., 2] / lin[..., 1])
    light = np.log(lin.mean(axis=2))
    third = inner.shape[0] // 3
    top, bottom = slice(0, third), slice(inner.shape[0] - third, inner.shape[0])
    changes, lights = [], []
    for cols in np.array_split(np.arange(inner.shape[1]), STRIPS):
        up, down = mask[top, cols], mask[bottom, cols]
        if up.sum() >= STRIP_MIN and down.sum() >= STRIP_MIN:
            changes.append(float(np.median(chroma[top, cols][up]) - np.median(chroma[bottom, cols][down])))
            lights.append(float(np.median(light[top, cols][up]) - np.median(light[bottom, cols][down])))
    if len(changes) < STRIPS_MIN or np.median(lights) < np.log(SHADED):
        return None
    return float(np.median(changes))


#: A change at or above this is a small NEV plate's white-to-green, however faint (``nev_toned``): half the bar at which
#: the change says NEV (``nev_shape.GRADIENT_MIN``), as it is asked only to withhold "not NEV". Measured: plates-dev's
#: yellow plates washed to no hue (desaturated, hazy; 44 reads) −0.035 … 0.021; its palest NEV plate, 皖AD11166,
#: with rendered mud or a bar over one character and read one short (5 reads) 0.098 … 0.21.
TONED_MIN = 0.05


def nev_toned(crop_bgr: np.ndarray | None) -> bool:
    """Whether a plate whose pixels show no hue (white or black) shows a small NEV plate's white-to-green change:
    a yellow plate washed out is one colour, the palest NEV plate's top is white and its bottom still green. Not
    measurable (clipped, dark, the top shaded) is no sign of one."""
    change = top_to_bottom(crop_bgr)
    return change is not None and change >= TONED_MIN
