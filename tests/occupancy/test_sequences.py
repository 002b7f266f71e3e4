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


def test_a_slot_missing_at_a_time_step_keeps_its_previous_patch_and_flag(bays_dev, tmp_path):
    """NORPark has 13 slot gaps; a grey tile there was a bay the camera shows nothing of, and "empty" in truth."""
    import cv2
    import numpy as np

    from edge_agent.bays.blank import crop_problem
    from edge_agent.bays.crop import bay_crop

    mosaic(bays_dev, tmp_path, 1, "models", "norpark_trondheim")
    seq = tmp_path / "norpark_trondheim"
    cfg = yaml.safe_load((seq / "config.yaml").read_text())
    polygons = {b["id"]: b["polygon"] for b in cfg["bays"]}
    frames = sorted((seq / "frames").iterdir())
    assert len(frames) == 90
    # time step 21: slots 009 and 032 have no patch in the source
    img = cv2.imread(str(frames[21]))
    assert [b for b, poly in polygons.items() if crop_problem(bay_crop(img, poly))] == []
    x0, y0 = polygons["009"][0]
    before = cv2.imread(str(frames[20]))
    assert np.array_equal(img[y0:y0 + 150, x0:x0 + 150], before[y0:y0 + 150, x0:x0 + 150])
    rows = [r for r in csv.DictReader((bays_dev / "patches.csv").open()) if r["scene"] == "norpark_trondheim"]
    times = sorted({r["captured"] for r in rows})
    flag = {r["bay_id"]: r["occupied"] for r in rows if r["captured"] == times[20]}["009"]
    truth = [t for t in csv.DictReader((seq / "truth.csv").open()) if t["bay_id"] == "009"]
    inside = any(float(t["start_s"]) <= 21 and (t["end_s"] == "" or 21 < float(t["end_s"])) for t in truth)
    assert inside == (flag == "1")
