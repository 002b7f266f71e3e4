"""The evidence picture: what a reviewer needs to trust a violation at a glance.

Bay polygon, plate corners, plate text, colour and verdict, and the time — drawn on the
frame the decision was based on. Text goes through Pillow because OpenCV cannot draw
Chinese characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge_agent.fonts import FontMissing, cjk_font

VERDICT_COLOURS = {"violation": (40, 40, 230), "ok": (60, 180, 60), "unknown": (0, 190, 255)}  # BGR


def annotate(frame_bgr: np.ndarray, polygon: Sequence[Sequence[float]] | None,
             corners: Sequence[Sequence[float]] | None, lines: Sequence[str],
             verdict: str = "unknown", models_dir: str | Path | None = None, band: bool = False) -> np.ndarray:
    """A copy of ``frame_bgr`` with the bay, the plate and a caption box (``lines``); the caption's
    font is the one fetched into ``models_dir`` (edge_agent.fonts), a system CJK font otherwise.
    ``band``: the caption in a black band above the picture, not over its corner (a photo cut to the bay has no
    corner to spare: the box would cover the car)."""
    img = frame_bgr.copy()
    size = max(14, img.shape[0] // 28)
    if band and lines:
        # sized for the photo, not the photo and band; as wide as the text: a bay's photo (bays-dev's median bay
        # is ~120 px with its margin) is narrower than a caption, and a cut caption loses the plate
        rows, wide = _text_extent(lines, size, models_dir)
        rows = max(rows, (size + 6) * len(lines) + 9)  # _caption's box, its last row included
        img = np.vstack([np.zeros((rows, img.shape[1], 3), dtype=img.dtype), img])
        if wide > img.shape[1]:
            img = np.hstack([img, np.zeros((img.shape[0], wide - img.shape[1], 3), dtype=img.dtype)])
        polygon = None if polygon is None else [(x, y + rows) for x, y in polygon]
        corners = None if corners is None else [(x, y + rows) for x, y in corners]
    elif lines:
        # over the frame's corner (``photo: frame``) the box stopped at the frame's edge: a 4:3 or small frame lost
        # the caption's last words, the photo's standing (review78); a black strip on the right holds them
        wide = _text_extent(lines, size, models_dir)[1]
        if wide > img.shape[1]:
            img = np.hstack([img, np.zeros((img.shape[0], wide - img.shape[1], 3), dtype=img.dtype)])
    colour = VERDICT_COLOURS.get(verdict, VERDICT_COLOURS["unknown"])
    if polygon:
        cv2.polylines(img, [np.round(np.asarray(polygon)).astype(np.int32)], True, colour, 2, cv2.LINE_AA)
    if corners and len(corners) == 4:
        cv2.polylines(img, [np.round(np.asarray(corners)).astype(np.int32)], True, (255, 255, 0), 2, cv2.LINE_AA)
    return _caption(img, lines, colour, models_dir, size)


def _text_extent(lines: Sequence[str], size: int, models_dir: str | Path | None) -> tuple[int, int]:
    """The height and width ``_caption`` draws ``lines`` over at ``size`` (descenders included)."""
    at = [4 + (size + 6) * i for i in range(len(lines))]
    try:
        font = cjk_font(size, models_dir)
    except FontMissing:
        sizes = [cv2.getTextSize(s.encode("ascii", "replace").decode(), cv2.FONT_HERSHEY_SIMPLEX, size / 30, 1)
                 for s in lines]
        return (max(y + size + 6 + base for y, ((_, _), base) in zip(at, sizes)) + 1,
                max(12 + tw for (tw, _), _ in sizes) + 8)
    boxes = [font.getbbox(s) for s in lines]
    return (max(y + int(np.ceil(b[3])) for y, b in zip(at, boxes)) + 1,
            max(12 + int(np.ceil(b[2])) for b in boxes) + 8)


BAY_MARGIN = 0.1  # of the bay's size, on each side: the bay's lines and the car's ends, not the neighbours


def around_bay(frame: np.ndarray, polygon: Sequence[Sequence[float]],
               corners: Sequence[Sequence[float]] | None,
               keep: Sequence[Sequence[float]] | None = None) -> tuple[np.ndarray, list[list[float]],
                                                                       list[list[float]] | None]:
    """The part of ``frame`` a visit's photo needs: the bay's bounding box and ``BAY_MARGIN`` around it, grown to
    hold the read plate's box (``keep``, else ``corners``) with half a plate's height around it, the polygon and the
    plate corners moved into it. Why the bay: the whole frame shows the other bays' cars with their plates and anyone
    walking past — personal data the case does not need (PIPL's minimum scope). Why the plate: it is read from the
    whole frame and is assigned by its bottom edge, so on an oblique camera it hangs past the bay's far line (and a
    tenth) — a photo without the plate cannot uphold a fine."""
    pts = np.asarray(polygon, dtype=float)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    mx, my = (x1 - x0) * BAY_MARGIN, (y1 - y0) * BAY_MARGIN
    x0, y0, x1, y1 = x0 - mx, y0 - my, x1 + mx, y1 + my
    plate = keep if keep is not None and len(keep) == 4 else corners
    if plate is not None and len(plate) == 4:
        box = np.asarray(plate, dtype=float)
        (px0, py0), (px1, py1) = box.min(axis=0), box.max(axis=0)
        pad = (py1 - py0) / 2
        x0, y0, x1, y1 = min(x0, px0 - pad), min(y0, py0 - pad), max(x1, px1 + pad), max(y1, py1 + pad)
    h, w = frame.shape[:2]
    left, top = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    right, bottom = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if right - left < 2 or bottom - top < 2:  # a bay outside the frame: the frame as it is
        return frame, [list(map(float, p)) for p in polygon], None if corners is None else [list(c) for c in corners]

    def moved(points: Sequence[Sequence[float]]) -> list[list[float]]:
        return [[float(x) - left, float(y) - top] for x, y in points]

    return frame[top:bottom, left:right], moved(polygon), None if corners is None else moved(corners)


def _caption(img: np.ndarray, lines: Sequence[str], colour: tuple[int, int, int],
             models_dir: str | Path | None, size: int) -> np.ndarray:
    if not lines:
        return img
    h = (size + 6) * len(lines) + 8
    w = min(img.shape[1], int(size * 0.62 * max(len(s) for s in lines)) + 20)
    try:
        font = cjk_font(size, models_dir)
    except FontMissing:  # evidence must still be written: ASCII-only caption
        cv2.rectangle(img, (0, 0), (w, h), (0, 0, 0), -1)
        cv2.rectangle(img, (0, 0), (6, h), colour, -1)
        for i, s in enumerate(lines):
            cv2.putText(img, s.encode("ascii", "replace").decode(), (12, 4 + (size + 6) * (i + 1)),
                        cv2.FONT_HERSHEY_SIMPLEX, size / 30, (255, 255, 255), 1, cv2.LINE_AA)
        return img
    from PIL import Image, ImageDraw

    # Pillow draws on the part of the frame the text covers (the box; descenders and a long line can reach
    # past it): a 4K frame taken through Pillow and back whole cost ~45 ms of CPU on the frame loop per
    # evidence photo, for text in a corner of it
    at = [(12, 4 + (size + 6) * i) for i in range(len(lines))]
    boxes = [font.getbbox(s) for s in lines]
    # the box as wide as the drawn words: 0.62 of the size a character fits Latin letters and digits, and a
    # Chinese character is a whole size wide (a caption in words ran past its box, white on a white car: review71)
    w = min(img.shape[1], max([w] + [x + int(np.ceil(b[2])) + 8 for (x, _), b in zip(at, boxes)]))
    cv2.rectangle(img, (0, 0), (w, h), (0, 0, 0), -1)
    cv2.rectangle(img, (0, 0), (6, h), colour, -1)
    right = max([w] + [x + int(np.ceil(b[2])) + 1 for (x, _), b in zip(at, boxes)])
    bottom = max([h] + [y + int(np.ceil(b[3])) + 1 for (_, y), b in zip(at, boxes)])
    part = img[:min(bottom, img.shape[0]), :min(right, img.shape[1])]
    pil = Image.fromarray(cv2.cvtColor(part, cv2.COLOR_BGR2RGB))
    d = ImageDraw.Draw(pil)
    for xy, s in zip(at, lines):
        d.text(xy, s, font=font, fill=(255, 255, 255))
    part[:] = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    return img


def encode_jpeg(img: np.ndarray | None, quality: int = 85) -> bytes | None:
    if img is None or not isinstance(img, np.ndarray) or img.size == 0:
        return None
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else None
