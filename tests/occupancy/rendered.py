"""Labelled frames rendered here (no dataset needed): a car parked in bay A, in bay B, or none."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import cv2

from edge_agent.sim.synthetic import BAYS, Scene, render

BAY_X = {"A": 250.0, "B": 700.0}  # where a car stands when it is in that bay


def occupied(bay: str, scene: Scene) -> int:
    return int(any(abs(c.x - BAY_X[bay]) < 50 for c in scene.cars))


def write_labelled_frames(root: Path, scenes: Sequence[Scene], csv_name: str,
                          scene: str | None = None) -> tuple[Path, list[dict]]:
    """``root/frames/<k>.jpg`` per scene and a frames.csv-style ``root/csv_name`` (paths relative to root)."""
    (root / "frames").mkdir(exist_ok=True)
    rows: list[dict] = []
    for k, sc in enumerate(scenes):
        cv2.imwrite(str(root / "frames" / f"{k}.jpg"), render(sc))
        for bay, poly in BAYS.items():
            row = {"file": f"frames/{k}.jpg", "bay_id": bay,
                   "polygon": json.dumps([[float(x), float(y)] for x, y in poly]), "occupied": occupied(bay, sc)}
            rows.append({"file": row["file"], "scene": scene, **row} if scene else row)
    path = root / csv_name
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path, rows
