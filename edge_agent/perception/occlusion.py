"""Characters read where the plate shows no character: mud, a sticker, a tow bar over one position.

Why: the recogniser always emits a character for every position it sees, and a covered one is
read as something (a round mud spot reads ``0`` at 0.93: ``湘A97971`` → ``湘A97071``, complete,
confidence 0.99). Nothing in its output marks it — but the pixels do: every plate character is
strokes of one colour, thin dark (or light) lines a little narrower than ``colour.polarity``'s
kernel, while a spot over a character is flat, wider than the kernel, and carries none. So a
read character whose place on the plate holds almost no stroke energy, next to the plate's
other characters, was not seen: that position is not read (``?``), the read is partial.

Where: the centre of the character's best-path frames (``Read.centres``), a window a little
narrower than a character cell around it, the rows between the frame and bumper strips
(``colour.ROWS``). Relative to the median of the plate's characters, so blur, night and
contrast scale every position alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge_agent.perception.colour import ROWS, WORK_SIZE

# A character whose stroke energy is below this share of the plate's median is covered.
# Measured (plates7 probe): real plates-dev reads, clean and under casts, 0.24 at the least
# (a province; serial characters 0.25, a thin J); mud spots over one character 0.01-0.08.
COVERED_MAX = 0.12
MIN_CHARS = 5  # the median needs a plate's worth of characters
WINDOW = 0.6  # window width as a share of the spacing between characters


def stroke_energy(crop_bgr: np.ndarray, centres: Sequence[float], han: Sequence[int] = ()) -> np.ndarray:
    """Mean stroke (top-hat or black-hat, whichever the plate's characters are) energy in a window
    around each centre (share of the crop's width), relative to the median over the characters.

    ``han``: positions read as a Han character (a province, 警, 学, 挂), measured also with a kernel twice a
    stroke's width and given the larger share: a dense Han glyph on a small or yawed plate has its strokes
    merged into one blob that a stroke-sized kernel takes for background (a rendered 鲁 on a 220 px yawed plate,
    greyscale: 0.10 of the median, read ``?A1Z7C1``). Only there: a cover over a serial character of dark-ink
    plates (mud on yellow, a bar) is narrow enough for the wider kernel to count as ink."""
    interp = cv2.INTER_AREA if crop_bgr.shape[1] > WORK_SIZE[0] else cv2.INTER_LINEAR
    crop = cv2.resize(crop_bgr[:, :, :3], WORK_SIZE, interpolation=interp)
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    h, w = gray.shape
    band = gray[int(h * ROWS[0]):int(h * ROWS[1])]
    k = max(3, int(round(h / 7)) | 1)  # as colour.polarity: a little wider than a stroke
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    top = cv2.morphologyEx(band, cv2.MORPH_TOPHAT, kernel)
    black = cv2.morphologyEx(band, cv2.MORPH_BLACKHAT, kernel)
    op = cv2.MORPH_BLACKHAT if black.mean() > top.mean() else cv2.MORPH_TOPHAT
    e = _windows((black if op == cv2.MORPH_BLACKHAT else top).mean(axis=0), centres, w)
    if han:
        wide = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * k + 1, 2 * k + 1))
        e_wide = _windows(cv2.morphologyEx(band, op, wide).mean(axis=0), centres, w)
        e[list(han)] = np.maximum(e[list(han)], e_wide[list(han)])
    return e


def _windows(profile: np.ndarray, centres: Sequence[float], w: int) -> np.ndarray:
    """``profile``'s mean in a window around each centre, relative to the median over the characters."""
    half = WINDOW / 2 * w / (len(centres) + 1)
    energy = []
    for c in centres:
        lo = int(max(0.0, c * w - half))
        hi = int(min(float(w), c * w + half))
        energy.append(float(profile[lo:max(hi, lo + 1)].mean()))
    e = np.asarray(energy)
    med = float(np.median(e)) if len(e) else 0.0
    return e / med if med > 1e-6 else np.ones_like(e)


def covered(crop_bgr: np.ndarray | None, centres: Sequence[float], text: str = "") -> tuple[int, ...]:
    """Positions of the read (one centre per character) where the plate shows no character; ``text``, the read
    (one character per centre), says which positions hold a Han glyph (``stroke_energy``)."""
    if crop_bgr is None or crop_bgr.ndim not in (2, 3) or len(centres) < MIN_CHARS or min(crop_bgr.shape[:2]) < 8:
        return ()
    if crop_bgr.ndim == 2:  # a monochrome camera: strokes all the same
        crop_bgr = cv2.cvtColor(crop_bgr, cv2.COLOR_GRAY2BGR)
    han = [i for i, ch in enumerate(text) if not ch.isascii()] if len(text) == len(centres) else []
    e = stroke_energy(crop_bgr, centres, han)
    return tuple(int(i) for i in np.flatnonzero(e < COVERED_MAX))
