"""Issue 10 §5: ``eval --degrade`` — deterministic degraded copies, scored beside the clean run."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from edge_agent.cli import main
from edge_agent.perception.degrade import DEGRADATIONS
from tests.perception.render import render_plate, render_scene


@pytest.fixture(scope="module")
def frame():
    return render_scene(render_plate("苏E12345", "blue"), seed=1, frame=(640, 360), plate_width=120)[0]


@pytest.mark.parametrize("name", list(DEGRADATIONS))
def test_each_degradation_is_deterministic_and_changes_the_frame(frame, name):
    a, b = DEGRADATIONS[name](frame), DEGRADATIONS[name](frame.copy())
    assert np.array_equal(a, b) and a.dtype == np.uint8 and a.shape[2] == 3
    if name == "half_size":
        assert a.shape[:2] == (180, 320)
    else:
        assert a.shape == frame.shape and np.abs(a.astype(int) - frame).mean() > 0.1
    if name == "night_ir":
        assert np.array_equal(a[..., 0], a[..., 2])  # no colour left: the verdict must not need it


def test_eval_degrade_prints_the_table_and_keeps_boxes_matched(tmp_path, models_dir, capsys):
    rows = [("blue.png", "苏E12345", "blue", "blue", ""), ("nev.png", "皖AD12345", "green", "small_nev", "")]
    with open(tmp_path / "labels.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "plate_text", "plate_color", "scene", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "note"])
        for i, (name, text, colour, style, note) in enumerate(rows):
            scene, c = render_scene(render_plate(text, style), seed=i, frame=(1280, 720), plate_width=240)
            cv2.imwrite(str(tmp_path / name), scene)
            w.writerow([name, text, colour, "full", *c.min(axis=0).round(), *c.max(axis=0).round(), note])
    out = tmp_path / "m.json"
    rc = main(["eval", "--labels", str(tmp_path / "labels.csv"), "--json", str(out), "--models", str(models_dir),
               "--degrade", "half_size,night_ir"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "blue/green-trap called NEV" in text and "half_size" in text and "night_ir" in text
    m = json.loads(out.read_text(encoding="utf-8"))
    assert set(m["degraded"]) == {"half_size", "night_ir"}
    assert m["degraded"]["half_size"]["detection_recall"] == 1.0  # boxes mapped back to the original
    for d in m["degraded"].values():
        assert d["blue_called_nev"] == 0


def test_unknown_degradation_is_refused_by_name(tmp_path, models_dir, capsys):
    (tmp_path / "labels.csv").write_text("file,plate_text\n", encoding="utf-8")
    rc = main(["eval", "--labels", str(tmp_path / "labels.csv"), "--models", str(models_dir), "--degrade", "fog"])
    assert rc == 2 and "fog" in capsys.readouterr().err
