"""Plate colour and character polarity from a rectified plate crop.

Why polarity first: the background is what carries the plate colour, and only the character
polarity says which pixels are background. It is also half of the NEV evidence on its own —
dark characters on green is an NEV plate, white characters on green is civil aviation or an
agricultural plate. Polarity comes from morphology (top-hat vs black-hat energy with a kernel
a little wider than a stroke), which survives dark, night and over-exposed plates where a
global threshold flips.

Colour is then a hue vote over the saturated, not-too-dark background pixels of the inner
rows (frame and bumper rows dropped). The thresholds are few, named and explained where they
are defined; they were set on the whole of ../shared/datasets/plates-dev, never per plate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_agent.plates import parse_plate

COLOURS = ("blue", "green", "yellow", "yellow_green", "white", "black", "unknown")

WORK_SIZE = (168, 48)  # the rectified crop size; other inputs are resized to it
# Inner region: the detector's corners often take in a strip of frame or bumper above and
# below, and the rivet border at the sides.
ROWS = (0.15, 0.85)
COLS = (0.04, 0.96)
STROKE_GROW = 5  # px at WORK_SIZE: JPEG chroma subsampling smears character colour this far
# OpenCV hue (0..180). Over-exposed blue drifts towards cyan, so blue starts at 90, not 100.
HUE_YELLOW = (8, 34)
HUE_GREEN = (34, 90)
HUE_BLUE = (90, 135)
# Below this hue a "blue" pixel is cyan: what an over-exposed green plate turns into. A real
# blue plate sits around 100–125 even when blurred; the verdict's cyan-green rule needs cyan.
CYAN_MAX = 100
# A background pixel votes for a hue only when it carries colour: grey, white and black
# pixels, and noise in deep shadow, do not.
VOTE_S = 50
VOTE_V = 40
# Share of background pixels that must vote before the plate counts as chromatic at all.
CHROMA_MIN = 0.22
# Large NEV plates are two-tone: one of green/yellow wins, the other keeps a solid share.
YELLOW_GREEN_SHARE = 0.18
# ... and their yellow is a band at the LEFT (GA 36-2018: over the province and letter, the first 0.28 of
# the plate; 0.26 of the inner columns of a tight crop): on a plate the pixels call green, two-tone needs the
# first YELLOW_BAND of the plate's coloured columns (where its yellow and green votes begin and end: a crop cut
# loose on the left, or cut into the plate, moves or narrows the band) to vote yellow, at least
# YELLOW_BAND_MIN of its yellow and green votes. Yellow elsewhere — mud, rust, a brown sticker over a serial
# character — is a stain on a green plate, not the large NEV's band (a spot over one middle character of a
# green plate: 0.25-0.35 of the votes yellow); a stain on a large NEV plate leaves its band yellow.
YELLOW_BAND = 0.2
YELLOW_BAND_MIN = 0.5
# ... and that band is paint: under the light that falls on the green beside it, yellow is at least as light as
# the green (plates-dev's large NEV: 1.04 times). Mud, rust or dirt is brown, a dark yellow hue: over a small NEV's
# province it measured 0.35-0.68 of the green beside it (0.42-0.58 lit like the plate) and made the plate a
# two-tone — undecided, an EV fined in its bay. A yellow vote under BAND_LIGHT of that green is a stain.
BAND_LIGHT = 0.75
# Weakly tinted plates (night, haze, dark blue): when at least TINT_COVER of the background
# has saturation ≥ TINT_S and TINT_MIN of those pixels are blue-ish, the plate is blue —
# blue plates outnumber black ones a hundred to one.
TINT_S = 18
TINT_COVER = 0.3
TINT_MIN = 0.5
# Red characters (OpenCV hue below the first or from the second value) in the last RED_END_WIDTH of
# the plate: only 警 and 应急 are painted red (``_red_end``).
HUE_RED = (8, 170)
RED_END_WIDTH = 0.25
# An infrared / monochrome frame has (almost) equal channels everywhere: colour is unknown,
# which tells the verdict to let the text format decide. Real colour photos of white and
# black plates measured ≥ 9 at the 99th percentile of the channel spread.
MONO_SPREAD = 5
# Plate kinds whose colour GA 36-2018 fixes by a special character (military plates are left
# out: their two-letters-five-digits text is what an NEV serial without its province looks like).
KIND_COLOUR = {
    "embassy": "black", "consulate": "black", "hk": "black", "macau": "black",
    "police": "white", "armed_police": "white", "emergency": "white",
    "coach": "yellow", "trailer": "yellow",
}


@dataclass(frozen=True)
class ColourResult:
    colour: str  # one of COLOURS
    dark_chars: bool | None  # True: dark characters on a light background; None: cannot tell
    scores: dict[str, float] = field(default_factory=dict)  # vote shares among background pixels
    confidence: float = 0.0
    # every colour with the evidence the pixels give it, best first (``colour`` leads)
    ranking: tuple[tuple[str, float], ...] = ()

    @property
    def is_green(self) -> bool:
        return self.colour in ("green", "yellow_green")


UNKNOWN = ColourResult("unknown", None, {}, 0.0)


def _inner(crop: np.ndarray) -> np.ndarray:
    h, w = crop.shape[:2]
    r0, c0 = int(h * ROWS[0]), int(w * COLS[0])
    return crop[r0:max(int(h * ROWS[1]), r0 + 1), c0:max(int(w * COLS[1]), c0 + 1)]


def polarity(gray: np.ndarray, plate_height: int) -> tuple[bool | None, np.ndarray, float]:
    """(dark_chars, stroke mask, strength). Strokes are thin: whichever of top-hat (bright
    thin things) or black-hat (dark thin things) carries more energy is the character colour."""
    k = max(3, int(round(plate_height / 7)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    g = gray.astype(np.float32)
    top = cv2.morphologyEx(g, cv2.MORPH_TOPHAT, kernel)
    black = cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, kernel)
    t, b = float(top.mean()), float(black.mean())
    if max(t, b) < 1.0:  # a flat patch: no characters to judge by
        return None, np.zeros(g.shape, bool), 0.0
    dark = b > t
    hat = black if dark else top
    strokes = hat > max(12.0, 0.5 * float(np.percentile(hat, 95)))
    strokes = cv2.dilate(strokes.astype(np.uint8), np.ones((STROKE_GROW, STROKE_GROW), np.uint8)) > 0
    return dark, strokes, abs(b - t) / (b + t)


def _background(gray: np.ndarray, strokes: np.ndarray, dark_chars: bool | None) -> np.ndarray:
    """Pixels that show the plate's own colour: off the grown strokes and, behind light
    characters, on the dark side of the median, which drops the glare around them. (Behind
    dark characters all of it counts: the NEV gradient is white at the top, green below.)"""
    mask = ~strokes
    if dark_chars is False and mask.sum() > 0.1 * mask.size:
        side = mask & (gray <= np.median(gray[mask]))
        if side.sum() > 0.1 * mask.size:
            mask = side
    if mask.sum() < 0.1 * mask.size:
        mask = np.ones_like(mask)
    return mask


def classify_colour(crop_bgr: np.ndarray | None, text: str | None = None) -> ColourResult:
    """Colour and polarity of a rectified plate crop (BGR, e.g. 168×48).

    ``text`` (optional, the recogniser's read) settles the plate kinds whose colour the
    standard fixes (使/领/港/澳 black, 警 white, 学/挂 yellow) — pixels cannot tell a black
    plate from a dark blue one, but those characters can."""
    if crop_bgr is None or crop_bgr.ndim not in (2, 3) or crop_bgr.shape[0] < 8 or crop_bgr.shape[1] < 16:
        return UNKNOWN
    if crop_bgr.ndim == 2:  # a monochrome (infrared) camera: no colour, but polarity still counts
        crop_bgr = cv2.cvtColor(crop_bgr, cv2.COLOR_GRAY2BGR)
    src = crop_bgr[:, :, :3]
    interp = cv2.INTER_AREA if src.shape[1] > WORK_SIZE[0] else cv2.INTER_LINEAR
    crop = cv2.resize(src, WORK_SIZE, interpolation=interp)  # stroke-sized kernels mean the same
    inner = _inner(crop)
    gray = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY)
    dark_chars, strokes, strength = polarity(gray, WORK_SIZE[1])
    spread = np.abs(np.diff(inner.astype(np.int16), axis=2)).max(axis=2)
    if float(np.percentile(spread, 99)) < MONO_SPREAD:
        return ColourResult("unknown", dark_chars, {"mono": 1.0, "polarity": strength}, 0.0)
    background = _background(gray, strokes, dark_chars)
    hsv = cv2.cvtColor(inner, cv2.COLOR_BGR2HSV)[background]
    h, s, v = (hsv[:, i].astype(np.int32) for i in range(3))
    vote = (s >= VOTE_S) & (v >= VOTE_V)
    shares = {name: float(((h >= lo) & (h < hi) & vote).mean())
              for name, (lo, hi) in (("yellow", HUE_YELLOW), ("green", HUE_GREEN), ("blue", HUE_BLUE))}
    chroma = sum(shares.values())
    blue_votes = vote & (h >= HUE_BLUE[0]) & (h < HUE_BLUE[1])
    cyan = float((blue_votes & (h < CYAN_MAX)).sum() / blue_votes.sum()) if blue_votes.any() else 0.0
    band = _left_band(vote & (h >= HUE_YELLOW[0]) & (h < HUE_YELLOW[1]), vote & (h >= HUE_GREEN[0]) & (h < HUE_GREEN[1]),
                      np.nonzero(background)[1], inner.shape[1], gray[background])
    scores = dict(shares, chroma=chroma, polarity=strength, cyan=cyan, red_end=_red_end(inner, strokes),
                  yellow_left=band, yellow_thirds=_poorest_third(vote & (h >= HUE_YELLOW[0]) & (h < HUE_YELLOW[1]),
                                                              np.nonzero(background)[1], inner.shape[1]))
    # a two-tone whose yellow is no left band is a green plate with a stain (``YELLOW_BAND``)
    two_tone = shares["yellow"] > shares["green"] or band >= YELLOW_BAND_MIN
    if chroma >= CHROMA_MIN:
        colour = max(shares, key=shares.__getitem__)
        if colour in ("green", "yellow") and two_tone \
                and min(shares["green"], shares["yellow"]) >= YELLOW_GREEN_SHARE * chroma:
            colour = "yellow_green"
        confidence = max(shares.values()) / chroma * min(1.0, chroma / 0.5)
    else:
        colour = _achromatic(h, s, dark_chars)
        confidence = 0.5 * (1.0 - chroma)
    ranking = _ranking(colour, round(confidence, 3), shares, chroma, h, s, dark_chars, two_tone)
    return _with_text(ColourResult(colour, dark_chars, scores, round(confidence, 3), ranking), text)


def _red_end(inner: np.ndarray, strokes: np.ndarray) -> float:
    """Share of the character strokes in the plate's last quarter that are red (saturated, bright
    enough to show a hue). GA 36 paints characters red only at the end of white plates — 警
    (police) and 应急 (emergency rescue); an NEV plate's characters are all black."""
    x0 = int(inner.shape[1] * (1 - RED_END_WIDTH))
    ink = strokes[:, x0:]
    if not ink.any():
        return 0.0
    hsv = cv2.cvtColor(inner[:, x0:], cv2.COLOR_BGR2HSV)[ink]
    h, s, v = (hsv[:, i].astype(np.int32) for i in range(3))
    red = ((h < HUE_RED[0]) | (h >= HUE_RED[1])) & (s >= VOTE_S) & (v >= VOTE_V)
    return round(float(red.mean()), 4)


def _poorest_third(votes: np.ndarray, cols: np.ndarray, width: int) -> float:
    """A hue's share of the background pixels (``votes``: one per pixel, ``cols`` their columns) in the third of the
    plate that has least of it: a plate's paint is in all three, mud or a stain over one character (an eighth of the
    plate) in at most two."""
    shares = []
    for k in range(3):
        part = (cols >= k * width / 3) & (cols < (k + 1) * width / 3)
        if not part.any():
            return 0.0
        shares.append(float(votes[part].mean()))
    return round(min(shares), 4)


def _left_band(yellow: np.ndarray, green: np.ndarray, cols: np.ndarray, width: int, gray: np.ndarray) -> float:
    """Yellow's share of the yellow and green votes (``yellow``, ``green``: one per background pixel, ``cols`` their
    columns, ``gray`` their brightness) in the first ``YELLOW_BAND`` of the plate's coloured columns (from the first to
    the last column with a yellow or green vote; ``width``: the crop's, when none): where a large NEV plate's yellow
    band is. Measured on the coloured part, not the crop: a crop cut loose on the left (the car's body) moved the
    band right, and one cut into the plate (a tilt, a tight box) narrowed it — a third of the crop then held the
    band and as much green (0.47-0.50), and a large NEV read green (small NEV layout). A yellow vote darker than
    ``BAND_LIGHT`` of the green next to the band (the plate's following fifth, under the same light; all its green
    where none is there) is a stain, not the band's paint, and votes neither way."""
    both = cols[yellow | green]
    lo, hi = (float(np.percentile(both, 1)), float(np.percentile(both, 99))) if both.size else (0.0, float(width))
    end = lo + YELLOW_BAND * (hi - lo)
    left = cols < end
    beside = green & ~left & (cols < end + YELLOW_BAND * (hi - lo))
    ref = gray[beside] if beside.any() else gray[green & ~left]
    if ref.size:
        yellow = yellow & (gray >= BAND_LIGHT * float(np.median(ref)))
    y, g = int((yellow & left).sum()), int((green & left).sum())
    return round(y / (y + g), 4) if y + g else 0.0


def _ranking(colour: str, confidence: float, shares: dict[str, float], chroma: float, h: np.ndarray,
             s: np.ndarray, dark_chars: bool | None, two_tone: bool = True) -> tuple[tuple[str, float], ...]:
    """The decided colour first, then every other colour by the evidence the pixels give it:
    a hue's share of the voting pixels, two-tone (yellow in the left band) for yellow-green, the weak blue tint of a
    night plate, and for white / black how little of the plate carries a hue (the one the
    character polarity fits first)."""
    scale = min(1.0, chroma / 0.5)
    ev = {c: shares[c] / max(chroma, 1e-6) * scale for c in ("blue", "green", "yellow")}
    ev["yellow_green"] = 2 * min(shares["green"], shares["yellow"]) / max(chroma, 1e-6) * scale if two_tone else 0.0
    tinted = s >= TINT_S
    if tinted.any():
        blueish = float(((h[tinted] >= HUE_BLUE[0] - 5) & (h[tinted] < HUE_BLUE[1] + 10)).mean())
        ev["blue"] = max(ev["blue"], 0.5 * float(tinted.mean()) * blueish)
    grey = 0.5 * max(0.0, 1.0 - chroma / 0.5)  # no white/black evidence once half the plate votes a hue
    ev["white"] = grey if dark_chars is not False else 0.5 * grey
    ev["black"] = grey if dark_chars is not True else 0.5 * grey
    ev.pop(colour, None)
    rest = sorted(((c, round(v, 3)) for c, v in ev.items() if c != "unknown"), key=lambda kv: -kv[1])
    return ((colour, confidence), *rest)


def _achromatic(h: np.ndarray, s: np.ndarray, dark_chars: bool | None) -> str:
    """Few saturated pixels: white or black, or a blue plate gone grey at night or in haze."""
    tinted = s >= TINT_S
    if dark_chars is not True and tinted.mean() >= TINT_COVER:
        blueish = ((h[tinted] >= HUE_BLUE[0] - 5) & (h[tinted] < HUE_BLUE[1] + 10)).mean()
        if blueish >= TINT_MIN:
            return "blue"
    if dark_chars is None:
        return "unknown"
    return "white" if dark_chars else "black"


def _with_text(res: ColourResult, text: str | None) -> ColourResult:
    """Let a special plate's text settle its colour (never under an unknown/IR colour)."""
    if not text or res.colour == "unknown":
        return res
    fixed = KIND_COLOUR.get(parse_plate(text).kind)
    if fixed is None or fixed == res.colour:
        return res
    dark = fixed != "black"
    if res.dark_chars is not None and res.dark_chars != dark:
        return res  # the pixels contradict the text's polarity: keep what we saw
    if dark and res.is_green:
        return res  # green with dark characters is NEV evidence; a misread must not erase it
    ranking = ((fixed, res.confidence), *(kv for kv in res.ranking if kv[0] != fixed))
    return ColourResult(fixed, dark, dict(res.scores, text_kind=1.0), res.confidence, ranking)
