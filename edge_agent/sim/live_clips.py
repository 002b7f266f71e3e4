"""Live-like replay clips with truth from the PKLot UFPR05 pictures of bays-dev (output goes to OUT, never the repo).

    python -m edge_agent.sim.live_clips BAYS_DEV OUT --labels models/labels/pklot_ufpr05.csv
        [--day 2013-04-15 ...] [--gap 120] [--tail 60] [--fps 2] [--seed 1]

``bays_dev_sequences`` cuts from picture to picture; a camera gives a stream, where light drifts while nothing
moves and a car drives in over seconds. Per day (all of the labels' days unless ``--day``) ``OUT/pklot_live_DAY``
gets ``config.yaml``, ``truth.csv`` (bay_id,start_s,end_s,scene), ``changes.json`` (what was drawn where, to look
at a miss) and ``frames/`` (JPEG): each real gap between two pictures (5–30 min) lasts ``gap`` s, the last picture
``tail`` s more, and over it

- the light (a coarse light field per picture) cross-fades from picture to picture, a cloud-shadow band drifts
  across and the auto-exposure hunts ±10 %; the scene is the first picture's, and each bay shows the picture of
  its latest change, both relit to the first picture's light (the light comes from the fade alone);
- each labelled change happens once, at a random moment of its gap: the real car's pixels (from the picture that
  has it) drive 1.6 bay lengths in or out over 3–5 s. Truth: a visit starts when the car is in, ends when it
  begins to leave; occupied in the first picture = parked at start (0);
- people cross a bay (``--passers`` a minute) and cars drive along a row (``--through`` a minute): motion over
  bays that is no visit;
- each frame is shifted by up to ±``jitter`` px (a mast swaying), gets sensor noise and is JPEG-compressed.

Deterministic for a seed: the schedule (changes, passers-by, through traffic, the band's course) is drawn first,
so the truth does not depend on ``--fps``. numpy and OpenCV only.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge_agent import imfile

SCENE = "pklot_live"
Change = tuple[float, float, str, str, int]  # (t0, t1, bay, "arr" | "dep", index of the picture after the change)


@dataclass
class Day:
    """One day of labelled pictures: the files in time order, each bay's outline and its flag per picture."""

    files: list[str]
    bays: dict[str, np.ndarray]
    flags: dict[str, list[int]]


def label_rows(labels: Path) -> list[dict[str, str]]:
    """The PKLot UFPR05 rows of a frames.csv-style labels file (other scenes are other cameras)."""
    with labels.open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r.get("scene", "pklot_ufpr05") == "pklot_ufpr05"]


def days_in(rows: list[dict[str, str]]) -> list[str]:
    """The days the pictures were taken (``YYYY-MM-DD`` leads each PKLot file name): one clip each."""
    return sorted({Path(r["file"]).name[:10] for r in rows})


def load_day(rows: list[dict[str, str]], day: str) -> Day:
    """The day's pictures, bays and flags; a bay left unlabelled in a picture (a car straddling it) keeps the
    previous picture's flag, as in ``bays_dev_sequences``."""
    rows = [r for r in rows if Path(r["file"]).name.startswith(day)]
    if not rows:
        raise ValueError(f"no PKLot UFPR05 picture of day {day!r} in the labels")
    files = sorted({r["file"] for r in rows})
    bays = {r["bay_id"]: np.array(json.loads(r["polygon"]), np.float32) for r in rows}
    occ = {(r["file"], r["bay_id"]): int(r["occupied"]) for r in rows}
    flags: dict[str, list[int]] = {}
    for b in sorted(bays):
        seq: list[int] = []
        for f in files:
            seq.append(occ.get((f, b), seq[-1] if seq else 0))
        flags[b] = seq
    return Day(files, bays, flags)


def bay_mask(poly: np.ndarray, shape: tuple[int, ...], grow: int = 6, feather: float = 3) -> np.ndarray:
    """A soft mask a little larger than the bay: a car overhangs its outline, and a hard edge pasted from another
    picture would be a seam the change gate sees on every frame."""
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [poly.astype(np.int32)], 255)
    if grow:
        m = cv2.dilate(m, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return (cv2.GaussianBlur(m, (0, 0), feather).astype(np.float32) / 255)[..., None]


def light_field(img: np.ndarray) -> np.ndarray:
    """A picture's light, coarse (64×36, blurred): the sun and shade without the cars, so dividing by it moves a
    picture's content into another's light."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    g = cv2.resize(g, (64, 36), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(g, (0, 0), 4) + 1


def upscale(field: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A coarse field at the frame's size, one channel to multiply a colour image by."""
    return cv2.resize(field, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)[..., None]


def schedule_changes(day: Day, gap: float, rng: np.random.Generator) -> tuple[list[Change], list[tuple]]:
    """Each labelled change at a random moment of its gap (⅛ to ¾ in, so the light is mid-fade), lasting 3–5 s,
    and the truth visits it makes: (bay, start_s, end_s or None)."""
    changes: list[Change] = []
    truth: list[tuple] = []
    n = len(day.files)
    for b, fl in day.flags.items():
        start: float | None = 0.0 if fl[0] else None
        for k in range(1, n):
            if fl[k] == fl[k - 1]:
                continue
            dur = rng.uniform(3, 5)
            t0 = (k - 1) * gap + rng.uniform(gap / 8, gap * 3 / 4)
            dur = min(dur, k * gap - t0)  # done within its gap: the next picture may change the bay again
            kind = "arr" if fl[k] else "dep"
            changes.append((t0, t0 + dur, b, kind, k))
            if kind == "arr":
                start = t0 + dur
            else:
                truth.append((b, start, t0))
                start = None
        if start is not None:
            truth.append((b, start, None))
    return changes, truth


def change_moves(changes: list[Change], relit: list[np.ndarray], bays: dict[str, np.ndarray],
                 rng: np.random.Generator) -> dict[Change, tuple[np.ndarray, np.ndarray]]:
    """Per change the picture whose pixels show the car and the way out: across the bay's first edge (towards
    the aisle or away from it, at random), 1.6 bay lengths, so the car leaves the bay and its neighbours."""
    move = {}
    for c in changes:
        _, _, b, kind, k = c
        poly = bays[b]
        e = poly[1] - poly[0]
        d = np.array([-e[1], e[0]]) / (np.linalg.norm(e) + 1e-6)
        if rng.random() < 0.5:
            d = -d
        size = max(np.ptp(poly[:, 0]), np.ptp(poly[:, 1]))
        move[c] = (relit[k] if kind == "arr" else relit[k - 1], d * size * 1.6)
    return move


def schedule_passers(centres: dict[str, np.ndarray], clip: float, per_min: float,
                     rng: np.random.Generator) -> list[tuple]:
    """People crossing a bay (Poisson, ``per_min``): 80–160 px in any direction over 3–7 s, any colour; a visit
    for no one."""
    passers: list[tuple] = []
    bl = list(centres)
    t = rng.exponential(60 / per_min) if per_min > 0 else clip
    while t < clip:
        c = centres[bl[rng.integers(len(bl))]]
        ang = rng.uniform(0, 2 * math.pi)
        v = np.array([math.cos(ang), math.sin(ang)])
        length = rng.uniform(80, 160)
        dur = rng.uniform(3, 7)
        passers.append((t, t + dur, c - v * length / 2, c + v * length / 2, rng.uniform(20, 230, 3)))
        t += rng.exponential(60 / per_min)
    return passers


def schedule_throughs(day: Day, centres: dict[str, np.ndarray], clip: float, per_min: float,
                      rng: np.random.Generator) -> list[tuple]:
    """Cars driving along a row past its bays (Poisson, ``per_min``), a parked car's pixels of the first picture
    moved over the row's centres: a car over a bay for a second, which must not be an arrival."""
    throughs: list[tuple] = []
    bl = list(day.bays)
    occupied = [b for b in bl if day.flags[b][0]]
    t = rng.exponential(60 / per_min) if per_min > 0 else clip
    while t < clip:
        row = rng.choice(sorted({b[0] for b in bl}))
        rb = sorted(b for b in bl if b[0] == row)
        p0, p1 = centres[rb[0]], centres[rb[-1]]
        off = (day.bays[rb[0]][1] - day.bays[rb[0]][0]) * rng.uniform(0.3, 0.7)
        ext = (p1 - p0) / max(1, len(rb) - 1)
        src = occupied[rng.integers(len(occupied))] if occupied else rb[0]
        dur = rng.uniform(4, 8) * len(rb) / 8
        if rng.random() < 0.5:
            p0, p1, ext = p1, p0, -ext
        throughs.append((t, t + dur, p0 - ext + off, p1 + ext + off, src))
        t += rng.exponential(60 / per_min)
    return throughs


def paste_moved(img: np.ndarray, src: np.ndarray, mask: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``img`` with ``src``'s pixels under ``mask`` moved by ``shift``: a car somewhere else than it was taken."""
    h, w = img.shape[:2]
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    car = cv2.warpAffine(src, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    mm = cv2.warpAffine(mask[..., 0], m, (w, h))[..., None]
    return img * (1 - mm) + car * mm


class Exposure:
    """Auto-exposure hunting: now and then a new target within ±10 %, approached at 35 % a frame, sometimes
    settling back to 1 — the slow whole-view swings a real camera makes."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.gain, self.target = rng, 1.0, 1.0
        self.next_t = rng.exponential(40)

    def step(self, t: float) -> float:
        """The gain of the frame at ``t``."""
        if t >= self.next_t:
            self.target = self.rng.uniform(0.9, 1.1)
            self.next_t = t + self.rng.exponential(40)
        if abs(self.gain - self.target) < 0.01:
            self.target = 1.0 if self.rng.random() < 0.3 else self.target
        self.gain += (self.target - self.gain) * 0.35
        return self.gain


class CloudBand:
    """A shadow band (30 % darker, ~120 px wide) sweeping across the view every 150–300 s at a random angle: light
    that changes some bays and not others while nothing moves."""

    def __init__(self, shape: tuple[int, ...], rng: np.random.Generator) -> None:
        h, w = shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)  # float64 from here on: the measured clips were made so
        ang = rng.uniform(0, math.pi)
        self.proj = xx * math.cos(ang) + yy * math.sin(ang)
        self.lo, self.hi = float(self.proj.min()), float(self.proj.max())
        self.period = rng.uniform(150, 300)

    def at(self, t: float) -> np.ndarray:
        """The band's gain per pixel at ``t`` (it starts and ends off the view)."""
        phase = (t % self.period) / self.period
        centre = self.lo + (self.hi - self.lo) * (phase * 1.6 - 0.3)
        return (1 - 0.3 * np.exp(-(((self.proj - centre) / 120) ** 2)))[..., None]


def light_at(t: float, fields: list[np.ndarray], gap: float) -> np.ndarray:
    """The coarse light at ``t``, relative to the first picture's: picture k's at k·gap, faded linearly to the
    next, the last one's held through the tail."""
    n = len(fields)
    k = min(int(t // gap), n - 1)
    if k >= n - 1:
        return fields[-1] / fields[0]
    w = min(1.0, (t - k * gap) / gap)
    return (fields[k] * (1 - w) + fields[k + 1] * w) / fields[0]


def camera_noise(img: np.ndarray, rng: np.random.Generator, jitter: float, noise: float) -> np.ndarray:
    """A sway of up to ±``jitter`` px (normal, σ jitter/2) and Gaussian sensor noise σ ``noise``, as 8-bit."""
    h, w = img.shape[:2]
    jx, jy = rng.normal(0, jitter / 2, 2).clip(-jitter, jitter)
    img = cv2.warpAffine(img, np.float32([[1, 0, jx], [0, 1, jy]]), (w, h), borderMode=cv2.BORDER_REFLECT)
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    return img.clip(0, 255).astype(np.uint8)


def build(root: Path, rows: list[dict[str, str]], day: str, out: Path, models: str, gap: float = 120,
          tail: float = 60, fps: float = 2, seed: int = 1, passers_per_min: float = 1.0,
          through_per_min: float = 0.5, noise: float = 3.0, jitter: float = 1.5, quality: int = 75) -> dict:
    """One day's clip in ``out`` (config.yaml, truth.csv, changes.json, frames/); returns its summary."""
    rng = np.random.default_rng(seed)
    d = load_day(rows, day)
    pics = []
    for f in d.files:
        img = imfile.imread(root / f)
        if img is None:
            raise ValueError(f"{root / f}: missing or not an image")
        pics.append(img.astype(np.float32))
    shape = pics[0].shape
    fields = [light_field(p) for p in pics]
    relit = [p * upscale(fields[0] / lf, shape) for p, lf in zip(pics, fields)]  # all in picture 0's light
    masks = {b: bay_mask(p, shape) for b, p in d.bays.items()}
    centres = {b: p.mean(0) for b, p in d.bays.items()}
    n = len(d.files)
    clip = gap * (n - 1) + tail
    # draw order is part of the seed's meaning: the schedule first, then what each frame draws
    changes, truth = schedule_changes(d, gap, rng)
    move = change_moves(changes, relit, d.bays, rng)
    passers = schedule_passers(centres, clip, passers_per_min, rng)
    throughs = schedule_throughs(d, centres, clip, through_per_min, rng)
    exposure = Exposure(rng)
    band = CloudBand(shape, rng)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    nf = int(clip * fps)
    bl = list(d.bays)
    state = dict.fromkeys(bl, 0)  # per bay: the picture whose content it shows
    key: tuple | None = None
    base = relit[0]
    for i in range(nf):
        t = i / fps
        for t0, t1, b, kind, k in changes:
            if t >= (t1 if kind == "arr" else t0):
                state[b] = max(state[b], k)
        if tuple(state.values()) != key:  # composing 43 bays is slow; they change a few times a clip
            key = tuple(state.values())
            base = relit[0].copy()
            for b in bl:
                if state[b]:
                    base = base * (1 - masks[b]) + relit[state[b]] * masks[b]
        img = base.copy()
        for c in changes:
            t0, t1, b, kind, k = c
            if t0 <= t < t1:
                f = (t - t0) / (t1 - t0)
                out_by = f if kind == "dep" else 1 - f  # 0 = in the bay, 1 = clear of it
                img = paste_moved(img, move[c][0], masks[b], move[c][1] * out_by)
        for t0, t1, pa, pb, src in throughs:
            if t0 <= t < t1:
                img = paste_moved(img, relit[0], masks[src], pa + (pb - pa) * ((t - t0) / (t1 - t0)) - centres[src])
        for t0, t1, pa, pb, col in passers:
            if t0 <= t < t1:
                x, y = pa + (pb - pa) * ((t - t0) / (t1 - t0))
                cv2.ellipse(img, (int(x), int(y)), (7, 13), 0, 0, 360, col.tolist(), -1)  # body
                cv2.circle(img, (int(x), int(y - 14)), 5, (60, 70, 90), -1)  # head
        img = img * upscale(light_at(t, fields, gap), shape) * band.at(t) * exposure.step(t)
        if not imfile.imwrite(out / "frames" / f"{i:06d}.jpg", camera_noise(img, rng, jitter, noise),
                              [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError(f"{out / 'frames'}: could not write frame {i}")
    write_truth(out / "truth.csv", truth)
    with (out / "changes.json").open("w", encoding="utf-8") as fh:
        json.dump({"changes": [list(c) for c in changes], "passers": [[p[0], p[1]] for p in passers],
                   "throughs": [[p[0], p[1], p[4]] for p in throughs]}, fh)
    h, w = shape[:2]
    cfg = {"site": {"site_id": "bays-dev", "device_id": f"live_{day}", "timezone": "America/Sao_Paulo"},
           "camera": {"source": str(out / "frames"), "fps": fps, "width": w, "height": h},
           "bays": [{"id": b, "polygon": d.bays[b].astype(int).tolist()} for b in bl],
           "perception": {"models_dir": models}, "data_dir": str(out / "data")}
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return {"frames": nf, "clip_s": clip, "changes": len(changes), "passers": len(passers),
            "throughs": len(throughs)}


def write_truth(path: Path, truth: list[tuple]) -> None:
    """``eval-visits`` truth: one row per visit in clip seconds, empty end = still there at the end."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(["bay_id", "start_s", "end_s", "scene"])
        for b, s, e in sorted(truth, key=lambda r: (r[0], r[1])):
            wr.writerow([b, round(s, 2), "" if e is None else round(e, 2), SCENE])


def main(argv: list[str] | None = None) -> int:
    """The command line; a bad day or labels file is one line and exit 2."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bays_dev", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--labels", type=Path, default=None, help="bays and flags (default BAYS_DEV/frames.csv)")
    ap.add_argument("--day", action="append", default=None, help="YYYY-MM-DD, repeatable (default: every day)")
    ap.add_argument("--gap", type=float, default=120, help="clip seconds per gap between two pictures")
    ap.add_argument("--tail", type=float, default=60, help="clip seconds after the last picture")
    ap.add_argument("--fps", type=float, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--passers", type=float, default=1.0, help="people crossing a bay per minute")
    ap.add_argument("--through", type=float, default=0.5, help="cars driving along a row per minute")
    ap.add_argument("--noise", type=float, default=3.0, help="sensor noise σ, grey levels")
    ap.add_argument("--jitter", type=float, default=1.5, help="largest sway, px")
    ap.add_argument("--quality", type=int, default=75, help="JPEG quality")
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "models"))
    a = ap.parse_args(argv)
    if a.gap < 8 or a.tail < 0 or not 0 < a.fps <= 60:
        ap.error("--gap must be at least 8 s (a change takes 3–5 s), --tail at least 0, --fps in (0, 60]")
    labels = a.labels or a.bays_dev / "frames.csv"
    try:
        rows = label_rows(labels)
        days = a.day or days_in(rows)
        for day in days:
            d = a.out / f"pklot_live_{day}"
            s = build(a.bays_dev, rows, day, d, a.models, a.gap, a.tail, a.fps, a.seed, a.passers, a.through,
                      a.noise, a.jitter, a.quality)
            print(f"{d}: {s['frames']} frames, {s['clip_s']:.0f} s, {s['changes']} changes, "
                  f"{s['passers']} passers-by, {s['throughs']} cars along a row")
    except (OSError, ValueError, KeyError) as e:
        print(f"live_clips: {labels}: no column {e}" if isinstance(e, KeyError) else f"live_clips: {e}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
