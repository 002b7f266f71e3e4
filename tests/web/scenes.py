"""Real JPEG evidence for the web tests: a rendered car park with a plate-like sign and its crop."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from edge_agent.fonts import cjk_font

PLATE_BG = {"blue": (29, 78, 216), "green": (95, 199, 127), "yellow": (250, 204, 21), "unknown": (200, 200, 200)}


def plate_crop(text: str, colour: str = "blue") -> bytes:
    img = Image.new("RGB", (168, 48), PLATE_BG.get(colour, PLATE_BG["unknown"]))
    d = ImageDraw.Draw(img)
    d.rectangle([2, 2, 165, 45], outline=(255, 255, 255), width=2)
    ink = (255, 255, 255) if colour == "blue" else (10, 10, 10)
    d.text((84, 24), text, font=cjk_font(30), fill=ink, anchor="mm")
    return _jpeg(img)


def scene(text: str, colour: str = "blue", bays: list[list[tuple[float, float]]] | None = None,
          size: tuple[int, int] = (960, 540)) -> bytes:
    """A grey car park, bay outlines, a box of a car and its plate in the middle."""
    w, h = size
    img = Image.new("RGB", size, (92, 96, 102))
    d = ImageDraw.Draw(img)
    for i in range(0, w, 40):
        d.line([(i, 0), (i - 200, h)], fill=(100, 104, 110), width=1)
    for poly in bays or []:
        d.polygon([tuple(p) for p in poly], outline=(240, 240, 240), width=4)
    if text:
        d.rounded_rectangle([w * 0.3, h * 0.35, w * 0.7, h * 0.85], radius=30, fill=(30, 34, 40))
        d.rectangle([w * 0.36, h * 0.4, w * 0.64, h * 0.55], fill=(120, 150, 180))
        crop = Image.open(io.BytesIO(plate_crop(text, colour)))
        img.paste(crop, (int(w * 0.5 - 84), int(h * 0.68)))
    return _jpeg(img)


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()
