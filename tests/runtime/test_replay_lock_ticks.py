"""``replay --sim-locks`` ticks the locks on clip time every 0.1 s, as ``run``'s lock thread does, not once a frame
(real models, a real file, the CLI; no sleeping)."""

from __future__ import annotations

import json
from datetime import datetime

import yaml

from edge_agent.cli import main
from edge_agent.sim.scenario import EMPTY, hold, scene_config
from tests.runtime.test_replay import write_clip


def test_a_raise_due_between_frames_comes_when_due_not_at_the_next_frame(tmp_path, models_dir):  # noqa: ANN001
    """Empty bays at 1 fps; A's lock waits 20.5 s of free evidence. ``run`` ticks every 0.1 s, so its rise starts
    within a tick of the due time, half-way between two frames, and the arm (3 s of travel) is up 3 s later. Ticked
    once a frame, the replay started every rise on a whole clip second, up to a frame period late."""
    clip = tmp_path / "clip.avi"
    write_clip(clip, hold(40, EMPTY), noise=3.0)
    cfg = scene_config(
        str(tmp_path / "data"),
        perception={"models_dir": str(models_dir), "threads": 1},
        camera={"fps": 1, "source": "rtsp://192.0.2.1/stream"},
        locks=[{"id": "A", "bay": "A", "driver": "simulator", "auto_raise_delay_s": 20.5}],
    )
    cfg_path = tmp_path / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    out = tmp_path / "events.jsonl"
    assert main(["replay", str(cfg_path), str(clip), "-o", str(out), "--sim-locks"]) == 0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    t0 = datetime.fromisoformat(lines[0]["ts"])
    moved = [
        ((datetime.fromisoformat(x["ts"]) - t0).total_seconds(), x["data"])
        for x in lines
        if x.get("type") == "lock_moved" and x.get("bay_id") == "A"
    ]
    rise = next(t for t, d in moved if d["state"] == "moving" and d.get("direction") == "up")
    up = next(t for t, d in moved if d["state"] == "up")
    assert 0.35 <= rise % 1.0 <= 0.75, moved  # 20.5 s after a frame, on the 0.1 s grid (not on a frame)
    assert 2.9 <= up - rise <= 3.2, moved  # the up switch seen within a tick of the arm's arrival
