"""Training augmentation: what a new camera changes, drawn at random (numpy + OpenCV, seeded).

Geometric: how an installer frames the bay (the polygon drawn a bit bigger, smaller, shifted,
rotated; a camera seeing the lot mirrored) — done as one affine warp from the stored crop
(``PRE_SIZE``, a little larger than the model's input) to the model's input size.
Clutter: bay lines, kerbs and shrubs painted on both classes (see ``clutter``).
Foliage: tree canopy over part of the bay, the label unchanged (see ``foliage``).
Photometric: exposure, contrast, gamma, white balance, hue, saturation, greyscale cameras,
blur (focus, compression), sensor noise, JPEG, and shadows of trees and buildings that cover part
of the bay; night (lamp light, gain noise, IR) and fog, which no training source shows. Every op is
applied to a random subset so the clean picture is seen too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PRE_SIZE = 80  # stored crop size; the warp to the model's size zooms in or out around it
FOLIAGE_P = 0.3  # share of training crops with a tree canopy painted over part of the bay
NIGHT_P = 0.15  # share of training crops seen at night (bays-dev has no night: lamps, gain noise, IR)
FOG_P = 0.1  # share of training crops seen through fog or haze (bays-dev has none)
NIGHT_MEAN = (44.0, 110.0)  # mean grey a night crop ends at after the camera's gain


@dataclass(frozen=True)
class Framing:
    """Ranges of the geometric jitter (log-uniform for zoom and aspect)."""

    zoom: tuple[float, float] = (0.8, 1.25)  # >1: the bay fills more than the crop (a tight polygon)
    aspect: tuple[float, float] = (0.75, 1.33)  # a long bay is stretched to a square by the crop
    quarter_turn: float = 0.0  # share of crops turned by 90°


def geometric(img: np.ndarray, out: int, rng: np.random.Generator, framing: Framing = Framing()) -> np.ndarray:
    """Random framing of one crop: zoom, aspect, shift ±10 %, rotation ±12°, quarter turn, flip."""
    s = img.shape[0]
    if framing.quarter_turn and rng.random() < framing.quarter_turn:
        img = np.ascontiguousarray(np.rot90(img, 1 if rng.random() < 0.5 else 3))
    scale = np.exp(rng.uniform(*np.log(framing.zoom)))
    aspect = np.exp(rng.uniform(*np.log(framing.aspect)))
    sx, sy = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
    ang = np.deg2rad(rng.uniform(-12, 12)) if rng.random() < 0.6 else 0.0
    tx, ty = rng.uniform(-0.1, 0.1, 2) * s
    flip = -1.0 if rng.random() < 0.5 else 1.0
    k = out / s
    c, si = np.cos(ang), np.sin(ang)
    # output = k * (R·S·F · (p - centre) + centre + t)
    a = np.array([[c * sx * flip, -si * sy], [si * sx * flip, c * sy]]) * k
    centre = np.array([s / 2.0, s / 2.0])
    b = k * (centre + np.array([tx, ty])) - a @ centre
    m = np.hstack([a, b[:, None]])
    border = cv2.BORDER_REFLECT_101 if rng.random() < 0.5 else cv2.BORDER_REPLICATE
    return cv2.warpAffine(img, m, (out, out), flags=cv2.INTER_LINEAR, borderMode=border)


def _shadow(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darken the part of the crop on one side of a random line (soft edge), or a blob."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        ang = rng.uniform(0, 2 * np.pi)
        d = (xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang) - rng.uniform(-0.3, 0.3) * w
        mask = 1.0 / (1.0 + np.exp(-d / rng.uniform(1.0, 6.0)))
    else:
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.15, 0.5) * w
        mask = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))
    depth = rng.uniform(0.3, 0.7)
    return img * (1.0 - depth * mask[..., None])


def clutter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ground clutter every lot has and CNRPark's empty slots rarely show: painted bay lines,
    kerbs, small shrubs. Drawn on both classes, so none of it can mean "vehicle"."""
    out = img.copy()
    h, w = out.shape[:2]
    if rng.random() < 0.6:  # bay markings: 1-3 roughly parallel stripes
        ang = rng.uniform(0, np.pi)
        d = np.array([np.cos(ang), np.sin(ang)])
        n = np.array([-d[1], d[0]])
        colour = tuple(int(c) for c in (rng.uniform(150, 255) * rng.uniform(0.8, 1.0, 3)))
        if rng.random() < 0.3:  # yellow / red paint
            colour = (int(rng.uniform(0, 90)), int(rng.uniform(120, 230)), int(rng.uniform(180, 255)))
        thick = int(rng.integers(1, 4))
        gap = rng.uniform(0.3, 0.9) * w
        off = rng.uniform(-0.5, 0.5) * w
        for k in range(int(rng.integers(1, 4))):
            c = np.array([w / 2, h / 2]) + n * (off + k * gap)
            length = rng.uniform(0.4, 1.5) * w
            p0, p1 = c - d * length / 2, c + d * length / 2
            cv2.line(out, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, thick, cv2.LINE_AA)
    if rng.random() < 0.3:  # a kerb: a straight step in brightness with a light edge
        y = int(rng.uniform(0.05, 0.3) * h) if rng.random() < 0.5 else int(rng.uniform(0.7, 0.95) * h)
        region = (slice(0, y), slice(None)) if y < h / 2 else (slice(y, None), slice(None))
        out[region] = np.clip(out[region].astype(np.float32) * rng.uniform(0.6, 1.4), 0, 255).astype(np.uint8)
        cv2.line(out, (0, y), (w, y), (200, 200, 200), int(rng.integers(1, 3)))
        if rng.random() < 0.5:
            out = cv2.warpAffine(out, cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-60, 60), 1.0), (w, h),
                                 borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.25:  # shrubs / litter: a few small dark green or brown blobs near the edges
        for _ in range(int(rng.integers(1, 3))):
            cx, cy = int(rng.choice([rng.uniform(0, 0.25), rng.uniform(0.75, 1.0)]) * w), int(rng.uniform(0, h))
            col = (int(rng.uniform(20, 60)), int(rng.uniform(50, 110)), int(rng.uniform(30, 90)))
            ax = (int(rng.uniform(3, 10)), int(rng.uniform(3, 10)))
            cv2.ellipse(out, (cx, cy), ax, rng.uniform(0, 180), 0, 360, col, -1, cv2.LINE_AA)
    if rng.random() < 0.25:  # oil stains, wet patches, tar repairs: soft dark blotches anywhere
        m = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            ax = (int(rng.uniform(3, 16)), int(rng.uniform(2, 10)))
            cv2.ellipse(m, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), ax, rng.uniform(0, 180), 0, 360, 1.0, -1)
        m = cv2.GaussianBlur(m, (0, 0), rng.uniform(1, 3))[..., None]
        out = np.clip(out * (1 - rng.uniform(0.2, 0.5) * m), 0, 255).astype(np.uint8)
    return out


def night(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A night view of a day crop: little light, tinted by the lamps (sodium orange, LED white, a
    blue dusk sky), brighter under a lamp's pool, recorded at a few grey levels and lifted by the
    camera's gain, which lifts the sensor noise with it. Float in, float out (0..255)."""
    h, w = x.shape[:2]
    tint = (np.array([0.35, 0.7, 1.0]), np.array([1.0, 0.95, 0.9]), np.array([1.0, 0.8, 0.6]))[rng.integers(3)]
    light = rng.uniform(0.04, 0.25) * tint.astype(np.float32) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    x = x * light
    if rng.random() < 0.5:  # a lamp's pool of light over part of the bay
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy, r = rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.2, 1.2) * h, rng.uniform(0.3, 0.9) * w
        x = x * (1.0 + rng.uniform(1.0, 4.0) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))[..., None]
    x = np.round(x + rng.normal(0, rng.uniform(0.5, 2.5), x.shape).astype(np.float32))  # few grey levels
    gain = rng.uniform(*NIGHT_MEAN) / max(float(x.mean()), 1.0)
    x = np.clip(x, 0, 255) * gain
    if rng.random() < 0.3:  # night IR: the camera switches to greyscale
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    return x


def fog(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fog or haze: the scene fades towards the bright air light (thicker towards the top, farther
    away, in some crops). Float in, float out."""
    h = x.shape[0]
    t = rng.uniform(0.3, 0.8)
    if rng.random() < 0.5:
        t = np.clip(t + rng.uniform(-0.2, 0.2) * np.linspace(-1, 1, h, dtype=np.float32), 0.15, 0.95)[:, None, None]
    air = rng.uniform(150, 235) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    return x * t + air * (1 - t)


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random lighting / camera / compression changes on one uint8 BGR crop; returns uint8."""
    x = img.astype(np.float32)
    if rng.random() < FOG_P:
        x = fog(x, rng)
    if rng.random() < NIGHT_P:
        x = night(x, rng)
    if rng.random() < 0.3:
        x = _shadow(x, rng)
    if rng.random() < 0.5:  # white balance / colour cast
        x = x * rng.uniform(0.8, 1.2, 3).astype(np.float32)
    if rng.random() < 0.3:  # hue / saturation
        hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-12, 12)) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.4, 1.5), 0, 255)
        x = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    if rng.random() < 0.8:  # exposure and contrast
        mean = x.mean()
        x = (x - mean) * np.exp(rng.uniform(np.log(0.5), np.log(2.5))) + mean * rng.uniform(0.45, 1.6)
    if rng.random() < 0.2:  # sharpening (many CCTV cameras over-sharpen)
        x = cv2.addWeighted(x, 1.8, cv2.GaussianBlur(x, (0, 0), 1.5), -0.8, 0)
    if rng.random() < 0.4:  # gamma (dusk, lamp light, over-exposure)
        x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** rng.uniform(0.5, 2.0)
    if rng.random() < 0.15:  # greyscale / IR cameras
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.3:  # focus, haze, upscaled low-resolution bays
        if rng.random() < 0.5:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.6))
        else:
            h, w = x.shape[:2]
            f = rng.uniform(0.25, 0.6)
            small = cv2.resize(x, (max(4, int(w * f)), max(4, int(h * f))), interpolation=cv2.INTER_AREA)
            x = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:  # sensor noise
        x = x + rng.normal(0, rng.uniform(2, 12), x.shape).astype(np.float32)
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # JPEG artefacts
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 80))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def foliage(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tree canopy reaching over the bay from one side: a textured green-brown mask with a ragged, soft
    edge, on both classes, the label unchanged. Cameras under trees see cars only in part (CNRPark camera
    B held out: 0.74 accuracy without this, 0.75-0.79 with it, two seeds); the net must learn that the
    visible part of a car is enough, and that leaves over asphalt are not a car."""
    h, w = img.shape[:2]
    m = np.zeros((h, w), np.float32)
    side = rng.integers(4)
    for _ in range(int(rng.integers(2, 6))):
        if side == 0:
            cx, cy = rng.uniform(0, w), rng.uniform(-0.2, 0.4) * h
        elif side == 1:
            cx, cy = rng.uniform(0, w), rng.uniform(0.6, 1.2) * h
        elif side == 2:
            cx, cy = rng.uniform(-0.2, 0.4) * w, rng.uniform(0, h)
        else:
            cx, cy = rng.uniform(0.6, 1.2) * w, rng.uniform(0, h)
        ax = (int(rng.uniform(0.1, 0.35) * w), int(rng.uniform(0.1, 0.35) * h))
        cv2.ellipse(m, (int(cx), int(cy)), ax, rng.uniform(0, 180), 0, 360, 1.0, -1)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), rng.uniform(0.7, 2.0))
    noise = (noise - noise.min()) / (np.ptp(noise) + 1e-6)
    m = cv2.GaussianBlur(m, (0, 0), rng.uniform(1, 3)) * (0.6 + 0.4 * noise)
    m = np.clip(m * rng.uniform(0.7, 1.2), 0, 1)[..., None]
    base = np.array([rng.uniform(20, 70), rng.uniform(40, 120), rng.uniform(20, 80)], np.float32)
    leaves = base[None, None, :] * (0.4 + 1.0 * noise[..., None])
    return np.clip(img * (1 - m) + leaves * m, 0, 255).astype(np.uint8)


def augment_batch(crops: np.ndarray, out: int, rng: np.random.Generator, framing: Framing = Framing()) -> np.ndarray:
    """[N, PRE_SIZE, PRE_SIZE, 3] uint8 → [N, out, out, 3] uint8, each crop framed and lit anew."""
    lit = [photometric(clutter(geometric(c, out, rng, framing), rng), rng) for c in crops]
    return np.stack([foliage(c, rng) if rng.random() < FOLIAGE_P else c for c in lit])


def centre(crops: np.ndarray, out: int) -> np.ndarray:
    """The evaluation view of stored crops: the plain resize to the model's size, no randomness."""
    if crops.shape[1] == out:
        return crops
    return np.stack([cv2.resize(c, (out, out), interpolation=cv2.INTER_AREA) for c in crops])
