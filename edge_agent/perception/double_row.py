"""Double-row plates (yellow large-vehicle rear plates, trailers, motorcycles, agricultural).

Single-line recognisers read only the bottom row of a two-row plate, which gives a confident
wrong text (``A5331`` for ``京EA5331``). So a two-row plate is found from its row profile,
split at the gap between the rows, and the two rows are laid side by side into one
single-row image (``京E`` + ``A5331``) that the ordinary recogniser reads. When that read is
not a valid plate the plate is reported double-row and unread — never a guessed text.

Geometry alone does not separate the layouts: a 440×220 plate is 2:1, a 440×140 plate 3.1:1,
but detector corners and oblique views blur that (single-row plates measured 1.3–2.6 on
plates-dev). The row profile decides; the aspect ratio only rules out clearly single rows.

Use in a pipeline: ``if is_double_row(det.corners, crop): text, conf, chars =
read_double_row(recognizer, rectify(frame, det.corners, 192, 96))`` — a 2:1 warp keeps the
small top-row characters legible, which the 168×48 single-row warp squashes.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge_agent.perception.recognizer import ISSUERS, SERIAL, SUFFIXES
from edge_agent.plates import DIGITS, PROVINCES, parse_plate

ASPECT_MAX = 2.8  # wider than this (w/h from the corners) is a single row whatever the pixels say
PROFILE_SIZE = (168, 96)  # the crop is looked at in this size (2-row plates are 2:1)
VALLEY_BAND = (0.25, 0.62)  # where the gap between the rows lies, as a fraction of the height
VALLEY_MAX = 0.12  # ink in the gap, relative to the bottom row's ink
TOP_MIN = 0.2  # the top row must hold some ink too (relative to the bottom row)
INK_MIN = 0.06  # the bottom row must hold at least this share of ink pixels
ROW_HEIGHT = 48  # each row is scaled to this height before composing
MIN_CONFIDENCE = 0.6  # below this the composed read is reported unread
#: GA 36 two-row layouts, (top row's slots, bottom row's slots): the province and the issuing
#: authority's letter above five serial characters (large vehicles' rear plates, trailers ending in
#: 挂, motorcycles); an agricultural plate's province and two-digit county code above five digits.
LAYOUTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    ((PROVINCES, ISSUERS), (SERIAL,) * 4 + (SERIAL + SUFFIXES,)),
    ((PROVINCES, DIGITS, DIGITS), (DIGITS,) * 5),
)


def corner_aspect(corners: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Width / height of the quadrilateral TL, TR, BR, BL."""
    c = np.asarray(corners, np.float32).reshape(4, 2)
    w = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    h = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    return float(w / h) if h > 0 else float("inf")


def _ink(plate_img: np.ndarray) -> np.ndarray:
    """Character-stroke mask at PROFILE_SIZE (side borders cut), either polarity."""
    img = cv2.resize(plate_img, PROFILE_SIZE, interpolation=cv2.INTER_AREA)
    gray = img if img.ndim == 2 else cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2GRAY)
    w = gray.shape[1]
    gray = gray[:, int(0.04 * w):int(0.96 * w)].astype(np.float32)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    top = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, k)
    black = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, k)
    hat = black if black.mean() > top.mean() else top
    return hat > max(15.0, 0.5 * float(np.percentile(hat, 95)))


def _split_row(plate_img: np.ndarray) -> float | None:
    """The gap between two text rows as a fraction of the height, or None for one row."""
    if plate_img is None or plate_img.size == 0 or min(plate_img.shape[:2]) < 8:
        return None
    prof = np.convolve(_ink(plate_img).mean(axis=1), np.ones(3) / 3, mode="same")
    n = len(prof)
    bottom = float(np.median(prof[int(0.55 * n):int(0.9 * n)]))
    if bottom < INK_MIN:
        return None
    lo, hi = int(VALLEY_BAND[0] * n), int(VALLEY_BAND[1] * n)
    y = lo + int(np.argmin(prof[lo:hi]))
    top = float(prof[int(0.05 * n):y].max()) if y > int(0.05 * n) else 0.0
    if prof[y] / bottom > VALLEY_MAX or top / bottom < TOP_MIN:
        return None
    return (y + 0.5) / n


def is_double_row(corners: Sequence[Sequence[float]] | np.ndarray | None, crop: np.ndarray) -> bool:
    """True when the plate at ``corners`` (optional) with rectified ``crop`` has two text rows."""
    if corners is not None and corner_aspect(corners) > ASPECT_MAX:
        return False
    return _split_row(crop) is not None


def split_rows(plate_img: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(top row, bottom row) images of a two-row plate, or None when it has one row.

    The top row is trimmed to its characters (province + letter sit in the middle)."""
    frac = _split_row(plate_img)
    if frac is None:
        return None
    h, w = plate_img.shape[:2]
    y = int(round(frac * h))
    top, bottom = plate_img[:y], plate_img[y:]
    cols = np.flatnonzero(_ink(top).mean(axis=0) > 0.05)
    if cols.size:
        scale = w / PROFILE_SIZE[0]
        x0 = int(0.04 * w + cols[0] * scale)
        x1 = int(0.04 * w + (cols[-1] + 1) * scale)
        pad = int(0.04 * w)
        top = top[:, max(0, x0 - pad):min(w, x1 + pad)]
    return top, bottom


def compose(top: np.ndarray, bottom: np.ndarray, height: int = ROW_HEIGHT) -> np.ndarray:
    """Lay the rows side by side at one height, each top character as wide as a bottom one
    (top: 2 characters, bottom: 5), so a single-row recogniser sees a normal plate."""
    bw = max(1, round(bottom.shape[1] * height / max(bottom.shape[0], 1)))
    b = cv2.resize(bottom, (bw, height), interpolation=cv2.INTER_AREA)
    tw = max(1, round(bw * 2 / 5))
    t = cv2.resize(top, (tw, height), interpolation=cv2.INTER_AREA)
    return np.hstack([t, b])


def read_rows(recognizer, top: np.ndarray, bottom: np.ndarray):
    """The two rows read apart, each as its layout's slots (``LAYOUTS``), the top one at its own
    aspect: every layout's joint reading that ``parse_plate`` accepts, most likely first, as
    ``(text, confidence, char_confidences)`` (a ``Read`` carrying the province ranking).
    Empty for a recogniser that cannot read slots (only the composed read is tried then)."""
    if not hasattr(recognizer, "read_slots"):
        return []
    tops = recognizer.read_slots(top, [t for t, _ in LAYOUTS], padded=True)
    bottoms = recognizer.read_slots(bottom, [b for _, b in LAYOUTS])
    found = []
    for t, b in zip(tops, bottoms):
        if t is None or b is None:
            continue
        (upper, s_top), (lower, s_bottom) = t, b
        text = upper[0] + lower[0]
        if not parse_plate(text).valid:
            continue
        chars = (*upper[2], *lower[2])
        conf = float(np.prod(chars) ** (1 / len(chars)))
        found.append((s_top + s_bottom, type(upper)(text, conf, chars, upper.province_ranking)))
    return [read for _, read in sorted(found, key=lambda f: -f[0])]


def read_double_row(recognizer, plate_img: np.ndarray, min_confidence: float = MIN_CONFIDENCE):
    """Read a two-row plate with a single-row ``recognizer`` (``read(list_of_crops)``).

    Two readings of the split rows: laid side by side and read as one row (``compose``), and
    read apart, each row as its GA 36 layout's slots (``read_rows``) — the composed one gives the
    second slot a letter even where an agricultural plate's top row holds digits (皖19 read 皖L9).
    The more confident reading that is a valid plate wins.

    Returns ``(text, confidence, char_confidences)``; text ``""`` and confidence 0 when the
    rows cannot be split or no reading is a valid plate — unread, not guessed."""
    rows = split_rows(plate_img)
    if rows is None:
        return "", 0.0, ()
    reads = [*recognizer.read([compose(*rows)]), *read_rows(recognizer, *rows)]
    valid = [r for r in reads if parse_plate(r[0]).valid and r[1] >= min_confidence]
    if not valid:
        return "", 0.0, ()
    return max(valid, key=lambda r: r[1])
