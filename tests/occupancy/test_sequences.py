"""Replay sequences built from bays-dev (skips without ../shared): truth follows the labels."""

from __future__ import annotations

import csv

import yaml

from edge_agent.occupancy.dataset import OWN_LABELS_DIR
from edge_agent.sim.bays_dev_sequences import intervals, mosaic, pklot


def test_intervals_mark_parked_at_start_and_still_there():
    assert intervals([1, 1, 0, 0, 1], 20) == [(0, 40), (80, None)]
    assert intervals([0, 0], 20) == []


def test_pklot_sequence_from_our_own_labels(bays_dev, tmp_path):
    labels = OWN_LABELS_DIR / "pklot_ufpr05.csv"
    pklot(bays_dev, tmp_path, 2, "models", labels=labels)
    cfg = yaml.safe_load((tmp_path / "pklot" / "config.yaml").read_text())
    assert len(cfg["bays"]) == 43 and cfg["bays"][0]["id"] == "A01"
    assert len(list((tmp_path / "pklot" / "frames").iterdir())) == 30 * 2
    truth = list(csv.DictReader((tmp_path / "pklot" / "truth.csv").open()))
    rows = list(csv.DictReader(labels.open()))
    first = sorted({r["file"] for r in rows})[0]
    at_start = {r["bay_id"] for r in rows if r["file"] == first and r["occupied"] == "1"}
    assert {t["bay_id"] for t in truth if float(t["start_s"]) == 0} == at_start


def test_norpark_mosaic_bays_are_whole_tiles_without_shift_tracking(bays_dev, tmp_path):
    mosaic(bays_dev, tmp_path, 1, "models", "norpark_trondheim")
    cfg = yaml.safe_load((tmp_path / "norpark_trondheim" / "config.yaml").read_text())
    assert cfg["camera"]["track_shift"] is False  # patches side by side are not one camera view
    assert len(cfg["bays"]) == 46
    (x0, y0), (x1, _), (_, y2), _ = cfg["bays"][0]["polygon"]
    assert (x0, y0, x1 - x0 + 1, y2 - y0 + 1) == (0, 0, 150, 150)
