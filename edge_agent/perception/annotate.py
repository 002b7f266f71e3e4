"""Draw what perception saw onto the frame: plate corners, text, colour and the NEV verdict.

Why Pillow for text: OpenCV's ``putText`` has no CJK glyphs and ``cv2.freetype`` is absent
from headless builds; Pillow draws the province characters with the fetched CJK font (edge_agent.fonts).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edge_agent.fonts import FontMissing, cjk_font
from edge_agent.perception.types import PlateRead

#: The comment (JPEG COM segment) every annotated copy carries: how a later run knows a file in the folder is
#: an earlier run's copy, which it may replace, and not a photo someone put there (``x-2.jpg``), which it may not.
MARK = b"edge-agent recognize --annotate"

# BGR outline colour per verdict: NEV green, not NEV red, undecided amber
VERDICT_BGR = {True: (60, 200, 60), False: (40, 40, 230), None: (0, 190, 255)}


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return cjk_font(size)
    except FontMissing:  # the picture is still worth writing: Latin-only labels
        return ImageFont.load_default()


def label_for(p: PlateRead) -> str:
    verdict = {True: "NEV", False: "not NEV", None: "NEV?"}[p.nev]
    text = p.text or ("double-row, unread" if p.double_row else "unread")
    return f"{text}  {p.colour}  {verdict} ({p.nev_reason})"


def annotate(frame_bgr: np.ndarray, plates: list[PlateRead]) -> np.ndarray:
    """A copy of the frame with each plate's quadrilateral and a label above it."""
    img = frame_bgr.copy()
    h, w = img.shape[:2]
    thick = max(2, round(max(h, w) / 500))
    for p in plates:
        pts = np.round(np.asarray(p.corners)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], True, VERDICT_BGR[p.nev], thick, cv2.LINE_AA)
    if not plates:
        return img
    size = max(14, round(max(h, w) / 45))
    pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    f = font(size)
    for p in plates:
        label = label_for(p)
        x, y = p.box[0], p.box[1]
        l, t, r, b = draw.textbbox((0, 0), label, font=f)
        tx = int(min(max(0, x), max(0, w - (r - l) - 4)))
        ty = int(y - (b - t) - 8 if y - (b - t) - 8 >= 0 else p.box[3] + 4)
        bgr = VERDICT_BGR[p.nev]
        draw.rectangle((tx, ty, tx + (r - l) + 6, ty + (b - t) + 6), fill=(bgr[2], bgr[1], bgr[0]))
        draw.text((tx + 3 - l, ty + 3 - t), label, font=f, fill=(255, 255, 255))
    return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)


def marked_jpeg(img: np.ndarray) -> bytes | None:
    """``img`` as JPEG bytes carrying ``MARK`` as a comment right after the JFIF header; None when it cannot be
    encoded."""
    ok, buf = cv2.imencode(".jpg", img)
    if not ok:
        return None
    data = buf.tobytes()
    at = 2  # after SOI, and after the APP0 (JFIF) segment OpenCV writes first: readers expect it there
    if data[2:4] == b"\xff\xe0":
        at = 4 + int.from_bytes(data[4:6], "big")
    com = b"\xff\xfe" + (len(MARK) + 2).to_bytes(2, "big") + MARK
    return data[:at] + com + data[at:]


def is_marked(path: Path) -> bool:
    """Whether ``path`` is a plain file (not a link, a folder, a FIFO) an earlier ``--annotate`` wrote: a JPEG
    carrying ``MARK`` as its comment (Pillow reads the header segments only)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with Image.open(path) as im:
            return im.format == "JPEG" and im.info.get("comment") == MARK
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def contact_sheet(tiles: list[tuple[np.ndarray, str]], cols: int = 4, tile_w: int = 320) -> np.ndarray:
    """Thumbnails with a caption under each, in a grid: the failures of an eval at a glance."""
    cap_h = 44
    cells = []
    f = font(15)
    for img, caption in tiles:
        th = max(1, round(img.shape[0] * tile_w / img.shape[1]))
        th = min(th, tile_w)
        thumb = cv2.resize(img, (tile_w, th), interpolation=cv2.INTER_AREA)
        cell = np.full((tile_w + cap_h, tile_w, 3), 255, np.uint8)
        cell[:th] = thumb
        pil = Image.fromarray(cv2.cvtColor(cell, cv2.COLOR_BGR2RGB))
        d = ImageDraw.Draw(pil)
        for i, line in enumerate(caption.splitlines()[:2]):
            d.text((4, tile_w + 2 + i * 20), line, font=f, fill=(0, 0, 0))
        cells.append(cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR))
    if not cells:
        return np.full((cap_h, tile_w, 3), 255, np.uint8)
    while len(cells) % cols:
        cells.append(np.full_like(cells[0], 255))
    rows = [np.hstack(cells[i:i + cols]) for i in range(0, len(cells), cols)]
    return np.vstack(rows)
