"""Build replay sequences with truth from bays-dev (never copied into the repo: output goes to OUT).

    python -m edge_agent.sim.bays_dev_sequences BAYS_DEV OUT [--hold 20] [--fps 1] [--labels CSV]

- ``OUT/pklot``: the 30 PKLot UFPR05 frames in time order, each held ``hold`` s at 1 fps (a folder
  of links); truth from the per-bay labels (a label change between two frames is a
  visit boundary at the later frame's start; occupied in the first frame = parked at start).
  ``--labels`` takes the bays and flags from that file (e.g. ``models/labels/pklot_ufpr05.csv``,
  43 bays, paths relative to BAYS_DEV) instead of bays-dev's ``frames.csv`` (40 bays).
- ``OUT/cnrpark_camA`` and ``OUT/norpark_trondheim``: per time step (121 over a day; 90 over two
  days) a mosaic of the slot patches, each held ``hold`` s; one bay per tile. A slot without a patch at a
  time step (13 in NORPark) keeps its previous one (until 2026-12-03: a grey tile, "empty" in truth).
Each gets ``config.yaml`` (fps 1), ``truth.csv`` (bay_id,start_s,end_s,scene) and ``frames/``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge_agent import imfile

TILE, INSET, COLS = 150, 22, 8


def intervals(flags: list[int], hold: float) -> list[tuple[float, float | None]]:
    out, start = [], None
    for k, f in enumerate(flags + [0]):
        if f and start is None:
            start = k * hold
        elif not f and start is not None:
            out.append((start, None if k == len(flags) else k * hold))
            start = None
    return out


def write(out: Path, name: str, frames: list[Path], hold: int, bays: dict[str, list], flags: dict[str, list[int]],
          size: tuple[int, int], models: str, fps: int = 1, mosaic: bool = False) -> None:
    d = out / name
    (d / "frames").mkdir(parents=True, exist_ok=True)
    i = 0
    for f in frames:
        for _ in range(hold * fps):
            link = d / "frames" / f"{i:06d}{f.suffix}"
            link.unlink(missing_ok=True)
            os.symlink(f.resolve(), link)
            i += 1
    with (d / "truth.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["bay_id", "start_s", "end_s", "scene"])
        for b, fl in flags.items():
            for a, e in intervals(fl, hold):
                w.writerow([b, a, "" if e is None else e, name])
    camera = {"source": str(d / "frames"), "fps": fps, "width": size[0], "height": size[1]}
    if mosaic:  # separate patches side by side are not one camera view: nothing to register
        camera["track_shift"] = False
    cfg = {"site": {"site_id": "bays-dev", "device_id": name, "timezone": "America/Sao_Paulo"},
           "camera": camera,
           "bays": [{"id": b, "polygon": p} for b, p in bays.items()],
           "perception": {"models_dir": models}, "data_dir": str(d / "data")}
    (d / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))


def pklot(root: Path, out: Path, hold: int, models: str, fps: int = 1, labels: Path | None = None) -> None:
    rows = [r for r in csv.DictReader((labels or root / "frames.csv").open(encoding="utf-8"))
            if r.get("scene", "pklot_ufpr05") == "pklot_ufpr05"]
    files = sorted({r["file"] for r in rows})
    bays = {r["bay_id"]: json.loads(r["polygon"]) for r in rows}  # the camera barely drifts: last one wins
    occ = {(r["file"], r["bay_id"]): int(r["occupied"]) for r in rows}
    # a bay left unlabelled in one frame (a car straddling it) keeps the previous frame's flag
    flags: dict[str, list[int]] = {}
    for b in sorted(bays, key=lambda v: (len(v), v)):
        seq: list[int] = []
        for f in files:
            seq.append(occ.get((f, b), seq[-1] if seq else 0))
        flags[b] = seq
    write(out, "pklot" if fps == 1 else f"pklot_{fps}fps", [root / f for f in files], hold, bays, flags,
          (1280, 720), models, fps)


def mosaic(root: Path, out: Path, hold: int, models: str, scene: str = "cnrpark_camA") -> None:
    """Patches of one scene laid out per time step; CNRPark patches show neighbours (bay = tile less an
    inset), NORPark patches are the bay itself (bay = whole tile)."""
    inset = 0 if scene.startswith("norpark") else INSET
    rows = [r for r in csv.DictReader((root / "patches.csv").open(encoding="utf-8")) if r["scene"] == scene]
    by_time: dict[str, dict[str, tuple[Path, int]]] = defaultdict(dict)
    for r in rows:
        by_time[r["captured"]][r["bay_id"]] = (root / r["file"], int(r["occupied"]))
    times = sorted(by_time)
    slots = sorted({r["bay_id"] for r in rows}, key=lambda s: (len(s), s))
    rows_n = (len(slots) + COLS - 1) // COLS
    size = (COLS * TILE, rows_n * TILE)
    mosaics = out / scene / "mosaics"
    mosaics.mkdir(parents=True, exist_ok=True)
    frames = []
    # A slot the source has no patch of at a time step keeps its previous patch and flag: a grey tile would be
    # a camera that shows nothing of the bay (no measurement, bays/blank.py), and "empty" in truth a made-up visit.
    for k, t in enumerate(times):
        if k:
            for s in slots:
                if s not in by_time[t] and s in by_time[times[k - 1]]:
                    by_time[t][s] = by_time[times[k - 1]][s]
        img = np.full((size[1], size[0], 3), 90, np.uint8)
        for j, s in enumerate(slots):
            if s in by_time[t]:
                p = cv2.resize(imfile.imread(by_time[t][s][0]), (TILE, TILE))
                y, x = (j // COLS) * TILE, (j % COLS) * TILE
                img[y:y + TILE, x:x + TILE] = p
        f = mosaics / f"{k:04d}.png"
        imfile.imwrite(f, img)
        frames.append(f)
    bays = {}
    for j, s in enumerate(slots):
        y, x = (j // COLS) * TILE, (j % COLS) * TILE
        bays[s] = [[x + inset, y + inset], [x + TILE - inset - 1, y + inset],
                   [x + TILE - inset - 1, y + TILE - inset - 1], [x + inset, y + TILE - inset - 1]]
    flags = {s: [by_time[t].get(s, (None, 0))[1] for t in times] for s in slots}
    write(out, scene, frames, hold, bays, flags, size, models, mosaic=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bays_dev", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--hold", type=int, default=20, help="seconds (= frames at 1 fps) each labelled picture is held")
    ap.add_argument("--fps", type=int, default=1, help="frames per second of the sequences (pklot only if > 1)")
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "models"))
    ap.add_argument("--labels", type=Path, default=None, help="PKLot bays and flags from this frames.csv-style file")
    a = ap.parse_args()
    pklot(a.bays_dev, a.out, a.hold, a.models, a.fps, a.labels)
    if a.fps == 1:
        mosaic(a.bays_dev, a.out, a.hold, a.models, "cnrpark_camA")
        mosaic(a.bays_dev, a.out, a.hold, a.models, "norpark_trondheim")
