"""Rendered scenes for the demo and the scenario tests: a camera over two charging bays.

A front-facing view of two bays; cars carry Chinese plates drawn to GA 36 proportions
(blue 440×140 mm, green NEV 480×140 mm) so the real detector and recogniser can read them.
Still images are rendered once and reused; sequences only pick which still to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from edge_agent.fonts import cjk_font

W, H = 960, 540
BAY_A = [(60.0, 200.0), (460.0, 200.0), (470.0, 530.0), (30.0, 530.0)]
BAY_B = [(500.0, 200.0), (900.0, 200.0), (930.0, 530.0), (490.0, 530.0)]
BAYS = {"A": BAY_A, "B": BAY_B}


@dataclass(frozen=True)
class Car:
    """A car facing the camera; ``x`` is its centre, ``plate`` None = no plate, "" = plate covered."""

    x: float
    plate: str | None
    plate_colour: str = "blue"  # blue | green
    body: tuple[int, int, int] = (180, 30, 30)
    y_bottom: float = 505.0
    width: float = 330.0


@dataclass(frozen=True)
class Person:
    x: float
    y_bottom: float = 470.0


@dataclass(frozen=True)
class Scene:
    cars: tuple[Car, ...] = ()
    people: tuple[Person, ...] = ()
    brightness: float = 1.0

    def plates(self) -> list[dict]:
        """Ground truth: where each readable plate is (corners TL, TR, BR, BL) and what it says."""
        out = []
        for c in self.cars:
            if c.plate:
                out.append({"text": c.plate, "colour": c.plate_colour, "corners": plate_corners(c)})
        return out


def plate_size(car: Car) -> tuple[float, float]:
    h = 44.0
    return (h * (480 / 140) if car.plate_colour == "green" else h * (440 / 140)), h


def plate_corners(car: Car) -> tuple[tuple[float, float], ...]:
    w, h = plate_size(car)
    x1, y2 = car.x - w / 2, car.y_bottom - 22
    return ((x1, y2 - h), (x1 + w, y2 - h), (x1 + w, y2), (x1, y2))


@lru_cache(maxsize=1)
def _background() -> Image.Image:
    rng = np.random.default_rng(7)
    base = np.full((H, W, 3), 92, np.float32) + rng.normal(0, 9, (H, W, 1))
    base[:150] = np.array([150, 160, 170], np.float32) + rng.normal(0, 4, (150, W, 1))  # wall
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    d = ImageDraw.Draw(img)
    for poly in BAYS.values():
        d.line(poly + [poly[0]], fill=(235, 235, 225), width=5)
    d.rectangle((0, 140, W, 152), fill=(110, 110, 115))  # kerb
    for x in (245, 700):  # charger posts on the wall
        d.rectangle((x, 60, x + 30, 150), fill=(40, 120, 60))
    return img


def _draw_plate(img: Image.Image, car: Car) -> None:
    (x1, y1), _, (x2, y2), _ = plate_corners(car)
    w, h = int(x2 - x1), int(y2 - y1)
    if car.plate == "":
        ImageDraw.Draw(img).rectangle((x1 - 4, y1 - 4, x2 + 4, y2 + 4), fill=(60, 60, 60))  # a cloth over it
        return
    green = car.plate_colour == "green"
    if green:
        grad = np.linspace(0, 1, h)[:, None, None]
        arr = (np.array([235, 250, 235]) * (1 - grad) + np.array([40, 190, 90]) * grad).repeat(w, 1)
        p = Image.fromarray(arr.astype(np.uint8))
        fg = (10, 10, 10)
    else:
        p = Image.new("RGB", (w, h), (20, 70, 200))
        fg = (245, 245, 245)
    d = ImageDraw.Draw(p)
    d.rectangle((2, 2, w - 3, h - 3), outline=fg, width=2)
    text = car.plate
    head, tail = text[:2], text[2:]
    font = cjk_font(int(h * 0.72))
    n = len(text)
    step = (w - 20) / (n + 0.6)
    x = 10.0
    for ch in head + "·" + tail:
        if ch == "·":
            d.ellipse((x + step * 0.15, h / 2 - 3, x + step * 0.15 + 6, h / 2 + 3), fill=fg)
            x += step * 0.6
            continue
        bb = d.textbbox((0, 0), ch, font=font)
        cw, chh = bb[2] - bb[0], bb[3] - bb[1]
        d.text((x + (step - cw) / 2 - bb[0], (h - chh) / 2 - bb[1]), ch, font=font, fill=fg)
        x += step
    img.paste(p, (int(x1), int(y1)))


def _draw_car(img: Image.Image, car: Car) -> None:
    d = ImageDraw.Draw(img)
    half, top = car.width / 2, car.y_bottom - 250
    d.rounded_rectangle((car.x - half, top + 70, car.x + half, car.y_bottom), radius=28, fill=car.body)
    d.polygon([(car.x - half + 40, top + 75), (car.x - half + 70, top), (car.x + half - 70, top),
               (car.x + half - 40, top + 75)], fill=tuple(int(c * 0.8) for c in car.body))
    d.polygon([(car.x - half + 62, top + 70), (car.x - half + 84, top + 12), (car.x + half - 84, top + 12),
               (car.x + half - 62, top + 70)], fill=(40, 50, 70))  # windscreen
    for s in (-1, 1):
        hx = car.x + s * (half - 45)
        d.ellipse((hx - 28, top + 100, hx + 28, top + 130), fill=(250, 250, 215))  # headlights
    d.rectangle((car.x - half + 10, car.y_bottom - 80, car.x + half - 10, car.y_bottom - 12), fill=(30, 30, 32))
    if car.plate is not None:
        _draw_plate(img, car)


def _draw_person(img: Image.Image, p: Person) -> None:
    d = ImageDraw.Draw(img)
    d.ellipse((p.x - 11, p.y_bottom - 150, p.x + 11, p.y_bottom - 126), fill=(60, 40, 30))
    d.rounded_rectangle((p.x - 18, p.y_bottom - 126, p.x + 18, p.y_bottom - 55), radius=8, fill=(30, 60, 120))
    d.rectangle((p.x - 14, p.y_bottom - 55, p.x + 14, p.y_bottom), fill=(40, 40, 45))


@lru_cache(maxsize=64)
def render(scene: Scene) -> np.ndarray:
    """The scene as a BGR uint8 frame (cached: scenes are immutable)."""
    img = _background().copy()
    for car in sorted(scene.cars, key=lambda c: c.y_bottom):
        _draw_car(img, car)
    for p in scene.people:
        _draw_person(img, p)
    arr = np.asarray(img)[:, :, ::-1].astype(np.float32) * scene.brightness
    out = np.clip(arr, 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


@dataclass
class NoiseBank:
    """Sensor noise so consecutive frames differ like a real camera's (and never look frozen)."""

    seed: int = 1
    n: int = 6
    _bank: list[np.ndarray] = field(default_factory=list)
    _i: int = 0

    def apply(self, frame: np.ndarray) -> np.ndarray:
        if not self._bank:
            rng = np.random.default_rng(self.seed)
            self._bank = [rng.integers(-3, 4, frame.shape, dtype=np.int16) for _ in range(self.n)]
        self._i = (self._i + 1) % self.n
        noise = self._bank[self._i]
        if noise.shape != frame.shape:
            return frame.copy()
        return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
