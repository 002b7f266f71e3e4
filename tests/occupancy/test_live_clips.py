"""Live-like clips built from bays-dev's PKLot pictures (skips without ../shared): truth follows the labels, the
clip is what replay plays and eval-visits scores, and a seed builds the same clip."""

from __future__ import annotations

import csv
import json
import math

import yaml

from edge_agent.cli import main
from edge_agent.occupancy.dataset import OWN_LABELS_DIR
from edge_agent.sim import live_clips

LABELS = OWN_LABELS_DIR / "pklot_ufpr05.csv"
DAY, GAP, TAIL, FPS = "2013-04-12", 10, 4, 1  # 5 pictures, 2 labelled changes: 44 frames


def _visits(flags: list[int]) -> int:
    return sum(1 for k, f in enumerate(flags) if f and (k == 0 or not flags[k - 1]))


def test_a_day_clip_has_the_labels_visits_each_change_within_its_gap(bays_dev, tmp_path):
    rows = live_clips.label_rows(LABELS)
    day = live_clips.load_day(rows, DAY)
    s = live_clips.build(bays_dev, rows, DAY, tmp_path, "models", gap=GAP, tail=TAIL, fps=FPS, seed=3)
    n = len(day.files)
    assert s["clip_s"] == GAP * (n - 1) + TAIL
    assert s["frames"] == len(list((tmp_path / "frames").iterdir())) == (GAP * (n - 1) + TAIL) * FPS
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert [b["id"] for b in cfg["bays"]] == sorted(day.bays) and cfg["camera"]["fps"] == FPS and cfg["camera"]["source"].startswith(str(tmp_path))
    truth = list(csv.DictReader((tmp_path / "truth.csv").open()))
    for b, fl in day.flags.items():
        mine = [t for t in truth if t["bay_id"] == b]
        assert len(mine) == _visits(fl), b
        assert any(float(t["start_s"]) == 0 for t in mine) == bool(fl[0]), b  # parked at start
        for t in mine:  # a change at picture k happens within gap k - 1, after an eighth of it
            for edge in (t["start_s"], t["end_s"]):
                if edge not in ("", "0.0"):
                    k = math.ceil(float(edge) / GAP)
                    assert fl[k] != fl[k - 1] and float(edge) - (k - 1) * GAP >= GAP / 8, (b, edge)
    changed = sum(fl[k] != fl[k - 1] for fl in day.flags.values() for k in range(1, n))
    assert s["changes"] == changed == len(json.loads((tmp_path / "changes.json").read_text())["changes"]) == 2


def test_a_seed_builds_the_same_clip_and_its_truth_does_not_depend_on_fps(bays_dev, tmp_path):
    rows = live_clips.label_rows(LABELS)
    for name, fps, seed in (("a", 0.2, 5), ("b", 0.2, 5), ("c", 0.1, 5), ("d", 0.2, 6)):
        live_clips.build(bays_dev, rows, DAY, tmp_path / name, "models", gap=GAP, tail=TAIL, fps=fps, seed=seed)
    frames = {n: [f.read_bytes() for f in sorted((tmp_path / n / "frames").iterdir())] for n in "abd"}
    assert frames["a"] == frames["b"] and frames["a"] != frames["d"]
    truth = {n: (tmp_path / n / "truth.csv").read_text() for n in "abcd"}
    assert truth["a"] == truth["b"] == truth["c"] != truth["d"]


def test_replay_and_eval_visits_run_on_a_clip(bays_dev, tmp_path, models_dir):
    out = tmp_path / "clips"
    assert live_clips.main([str(bays_dev), str(out), "--labels", str(LABELS), "--day", DAY, "--gap", str(GAP),
                            "--tail", str(TAIL), "--fps", str(FPS), "--models", str(models_dir)]) == 0
    clip = out / f"pklot_live_{DAY}"
    events, score = tmp_path / "events.jsonl", tmp_path / "score.json"
    assert main(["replay", str(clip / "config.yaml"), str(clip / "frames"), "-o", str(events),
                 "--start", "2013-04-12T14:20:00", "--data-dir", str(tmp_path / "data")]) == 0
    done = json.loads(events.read_text().splitlines()[-1])
    assert done["type"] == "replay_finished" and done["frames"] == 44
    assert main(["occupancy", "eval-visits", str(clip / "truth.csv"), str(events), "--json", str(score)]) == 0
    total = json.loads(score.read_text())["total"]
    truth = list(csv.DictReader((clip / "truth.csv").open()))
    bays = len(live_clips.load_day(live_clips.label_rows(LABELS), DAY).bays)  # 41 labelled that day
    assert total["truth_visits"] == len(truth) and total["frames"] == 44 * bays
    assert set(json.loads(score.read_text())["scenes"]) == {"pklot_live"}


def test_a_day_without_pictures_is_one_line_and_exit_2(tmp_path, capsys):
    assert live_clips.main([str(tmp_path), str(tmp_path / "out"), "--labels", str(LABELS), "--day", "2013-01-01"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2013-01-01" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
