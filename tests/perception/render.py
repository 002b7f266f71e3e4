"""Synthetic Chinese plates and scenes for tests, drawn with the fetched CJK font (edge_agent.fonts).

Why render: tests need plates of every colour and polarity (and traps like civil aviation)
with known text and known corners, which no small real sample covers. Everything is seeded,
so a test sees the same pixels on every run and machine (same font file, same Pillow).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edge_agent.fonts import cjk_font

# BGR colours of real plate backgrounds / characters.
BLUE = (170, 75, 10)
YELLOW = (20, 190, 240)
GREEN = (90, 190, 40)
DARK_GREEN = (60, 120, 20)
WHITE = (238, 242, 245)
BLACK = (20, 23, 28)  # real black plates carry a faint (here warm) tint; pure grey reads as infrared
RED = (30, 30, 210)


@dataclass(frozen=True)
class Style:
    colour: str  # what colour.classify_colour should say
    dark_chars: bool
    size: tuple[int, int]  # plate width, height in mm (GA 36 outline)
    double: bool = False


STYLES = {
    "blue": Style("blue", False, (440, 140)),
    "small_nev": Style("green", True, (480, 140)),  # gradient white → green, black characters
    "large_nev": Style("yellow_green", True, (480, 140)),  # yellow | green two-tone
    "yellow": Style("yellow", True, (440, 140)),
    "yellow_double": Style("yellow", True, (440, 220), double=True),
    "police": Style("white", True, (440, 140)),  # red 警
    "emergency": Style("white", True, (440, 140)),  # red 应急 (fire / forest rescue, 8 characters)
    "military": Style("white", True, (440, 140)),  # its leading code letter red (GA·13189)
    "black": Style("black", False, (440, 140)),
    "green_white": Style("green", False, (440, 140)),  # civil aviation / agricultural
    # GA 36 two-row layouts (440×220): province + letter (agricultural: province + 2 digits) small on
    # the top row, the last five characters big below — large vehicles' rear, trailers (挂), motorcycles
    "green_white_double": Style("green", False, (440, 220), double=True),  # agricultural 皖19·46673
}


def font(size: int) -> ImageFont.FreeTypeFont:
    return cjk_font(size)  # the same lookup as the agent's pictures: models/fonts/ first


def _background(style: str, w: int, h: int) -> np.ndarray:
    img = np.empty((h, w, 3), np.float32)
    if style == "small_nev":
        t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None] ** 0.7
        img[:] = (1 - t) * np.float32(WHITE) + t * np.float32(GREEN)
    elif style == "large_nev":
        img[:] = GREEN
        img[:, : int(0.28 * w)] = YELLOW
    elif style in ("green_white", "green_white_double"):
        img[:] = DARK_GREEN
    else:
        bg = {"blue": BLUE, "yellow": YELLOW, "yellow_double": YELLOW, "police": WHITE, "emergency": WHITE,
              "military": WHITE, "black": BLACK}[style]
        img[:] = bg
    return img.astype(np.uint8)


def glyph(ch: str, w: int, h: int) -> np.ndarray:
    """One character as a float mask (0..1) stretched to ``w``×``h``: plate glyphs are tall,
    narrow and bold, unlike the font's own proportions."""
    f = font(96)
    l, t, r, b = f.getbbox(ch, stroke_width=4)
    img = Image.new("L", (r - l + 8, b - t + 8), 0)
    ImageDraw.Draw(img).text((4 - l, 4 - t), ch, font=f, fill=255, stroke_width=4, stroke_fill=255)
    return cv2.resize(np.asarray(img, np.float32) / 255.0, (max(1, w), max(1, h)), interpolation=cv2.INTER_AREA)


def _draw_row(img: np.ndarray, chars: str, box: tuple[int, int, int, int],
              colour: tuple[int, int, int], dot_after: int | None, red_last: int, red_first: int = 0) -> None:
    """Characters evenly spaced across ``box`` (x0, y0, x1, y1), drawn into ``img`` in place; the
    last ``red_last`` of them red (police 警, emergency 应急), the first ``red_first`` too (military)."""
    x0, y0, x1, y1 = box
    n = len(chars)
    gap = (x1 - x0) * 0.06 if dot_after is not None else 0.0
    cell = ((x1 - x0) - gap) / n
    gw, gh = int(cell * 0.78), y1 - y0
    for i, ch in enumerate(chars):
        cx = x0 + cell * (i + 0.5) + (gap if dot_after is not None and i >= dot_after else 0.0)
        m = glyph(ch, gw, gh)[..., None]
        gx = int(round(cx - gw / 2))
        fill = np.float32(RED if i >= n - red_last or i < red_first else colour)
        region = img[y0:y0 + gh, gx:gx + gw].astype(np.float32)
        img[y0:y0 + gh, gx:gx + gw] = (region * (1 - m) + fill * m).astype(np.uint8)
    if dot_after is not None:
        dx = int(x0 + cell * dot_after + gap / 2)
        cv2.circle(img, (dx, (y0 + y1) // 2), max(1, int((y1 - y0) * 0.06)), colour, -1, cv2.LINE_AA)


def render_plate(text: str, style: str, scale: float = 1.0) -> np.ndarray:
    """A frontal plate image (BGR) at ``scale`` px per mm, with a thin frame."""
    st = STYLES[style]
    w, h = int(st.size[0] * scale), int(st.size[1] * scale)
    img = _background(style, w, h)
    ink = BLACK if st.dark_chars else WHITE
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), ink, max(1, int(3 * scale)))
    mx = int(0.05 * w)
    if st.double:  # the last five characters on the bottom row, the rest (2 or 3) centred above
        top = text[:-5]
        half = 0.125 * len(top)  # each top character a quarter of the plate wide, dot included
        _draw_row(img, top, (int((0.5 - half) * w), int(0.08 * h), int((0.5 + half) * w), int(0.34 * h)), ink, 1, 0)
        _draw_row(img, text[-5:], (mx, int(0.42 * h), w - mx, int(0.9 * h)), ink, None, 0)
    else:
        dot = 2 if text[:2] != "民航" and not text.startswith("使") else None
        red = {"police": 1, "emergency": 2}.get(style, 0)
        _draw_row(img, text, (mx, int(0.16 * h), w - mx, int(0.84 * h)), ink, dot, red, int(style == "military"))
    return img


def plate_crop(text: str, style: str, size: tuple[int, int] = (168, 48), seed: int = 0,
               noise: float = 4.0) -> np.ndarray:
    """A plate as the rectifier hands it over: resized to ``size`` with a little sensor noise."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(render_plate(text, style, scale=1.0), size, interpolation=cv2.INTER_AREA)
    noisy = img.astype(np.float32) + rng.normal(0.0, noise, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def render_scene(plate: np.ndarray, seed: int = 0, frame: tuple[int, int] = (1280, 720),
                 plate_width: int = 220, yaw: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Paste ``plate`` onto a car-like background with a mild perspective.

    Returns the BGR frame and the plate's corners (TL, TR, BR, BL) in frame pixels."""
    rng = np.random.default_rng(seed)
    fw, fh = frame
    # road / wall gradient, a car body, a darker bumper band and two lamps
    yy = np.linspace(0, 1, fh, dtype=np.float32)[:, None, None]
    base = rng.uniform(60, 120, 3).astype(np.float32)
    scene = np.broadcast_to(base * (0.7 + 0.6 * yy), (fh, fw, 3)).copy()
    body = rng.uniform(40, 220, 3)
    cx, cy = fw // 2 + int(rng.integers(-fw // 8, fw // 8)), int(fh * 0.6)
    bw, bh = int(plate_width * 4.2), int(plate_width * 1.6)
    cv2.rectangle(scene, (cx - bw // 2, cy - bh // 2), (cx + bw // 2, cy + bh // 2), body.tolist(), -1)
    cv2.rectangle(scene, (cx - bw // 2, cy + bh // 8), (cx + bw // 2, cy + bh // 3), (body * 0.5).tolist(), -1)
    for sx in (-1, 1):
        cv2.circle(scene, (cx + sx * bw // 3, cy - bh // 6), plate_width // 5, (200, 200, 230), -1)
    scene += rng.normal(0, 3, scene.shape)
    ph, pw = plate.shape[:2]
    w = plate_width
    h = w * ph / pw
    x0, y0 = cx - w / 2, cy - h / 2 + bh * 0.05
    k = yaw * h  # one side taller than the other: the plate seen a little from the side
    dst = np.float32([[x0, y0], [x0 + w, y0 + k / 2], [x0 + w, y0 + h - k / 2], [x0, y0 + h]])
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(plate, m, (fw, fh), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, (fw, fh)) > 127
    scene[mask] = warped[mask]
    scene = cv2.GaussianBlur(np.clip(scene, 0, 255).astype(np.uint8), (3, 3), 0)
    return scene, dst


def scene(text: str, style: str, seed: int = 0, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """``render_scene(render_plate(text, style), seed, ...)``: a frame and its plate corners."""
    return render_scene(render_plate(text, style), seed=seed, **kwargs)
