"""``edge-agent run`` on a camera whose frames arrive damaged: FFmpeg's own per-frame complaints stay out of the
agent's stderr (the journal under systemd); the reader counts the frames and logs the first."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge_agent.camera.source import FFMPEG_LOG_LEVEL_ENV
from edge_agent.sim.synthetic import BAYS

FRAMES, FLIPS = 40, 1500


def _env() -> dict[str, str]:
    """The environment of an operator who set no FFmpeg log level (an in-process ``replay`` earlier in the session
    sets its quiet default in this process's environment, which a child would inherit)."""
    return {k: v for k, v in os.environ.items() if k != FFMPEG_LOG_LEVEL_ENV}


def _damaged_recording(path: Path) -> None:
    """An MJPEG recording with bytes flipped across it: most frames decode with errors, as a camera on a bad
    link or with a failing encoder sends them."""
    plain = path.with_name("plain.avi")
    w = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"MJPG"), 25, (960, 540))
    rng = np.random.default_rng(7)
    for _ in range(FRAMES):
        w.write(rng.integers(0, 255, (540, 960, 3), np.uint8))
    w.release()
    data = bytearray(plain.read_bytes())
    flip = random.Random(7)
    for _ in range(FLIPS):
        data[flip.randrange(4096, len(data))] ^= 0xFF
    path.write_bytes(bytes(data))


def _run(tmp_path: Path, models: Path, *flags: str) -> str:
    video = tmp_path / "damaged.avi"
    if not video.exists():
        _damaged_recording(video)
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": str(video), "fps": 25, "width": 960, "height": 540},
        "bays": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()],
        "perception": {"models_dir": str(models)},
        "data_dir": str(tmp_path / f"data{len(flags)}"),
    }
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "edge_agent", *flags, "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def test_damaged_frames_do_not_flood_the_log(tmp_path: Path, models_dir: Path) -> None:
    """Before, FFmpeg wrote one or two lines per damaged frame straight to stderr (a camera at 25 fps: tens of
    lines a second, for as long as it sends them)."""
    quiet = _run(tmp_path, models_dir)
    assert not [ln for ln in quiet.splitlines() if ln.startswith("[mjpeg @")], quiet[-2000:]
    # -v gives them back, for whoever is chasing the camera's fault
    verbose = _run(tmp_path, models_dir, "-v")
    assert len([ln for ln in verbose.splitlines() if ln.startswith("[mjpeg @")]) >= FRAMES // 4


def test_a_damaged_recording_replayed_does_not_flood_the_terminal(tmp_path: Path, models_dir: Path) -> None:
    """``replay`` of a clip with damaged frames printed FFmpeg's line for each of them (194 lines for a minute
    of PKLot footage with a damaged stretch) around its one-line summary; the replay counts them (`corrupt`)."""
    video = tmp_path / "damaged.avi"
    _damaged_recording(video)
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": str(video), "fps": 25, "width": 960, "height": 540},
        "bays": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()],
        "perception": {"models_dir": str(models_dir)},
        "data_dir": str(tmp_path / "data"),
    }
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(cfg))

    def replay(*flags: str) -> tuple[str, list]:
        out = tmp_path / f"events{len(flags)}.jsonl"
        proc = subprocess.run([sys.executable, "-m", "edge_agent", *flags, "replay", str(config), str(video),
                               "-o", str(out)], capture_output=True, text=True, timeout=120, env=_env())
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stderr, [json.loads(x) for x in out.read_text().splitlines()]

    quiet, events = replay()
    assert not [ln for ln in quiet.splitlines() if ln.startswith("[mjpeg @")], quiet[-2000:]
    assert "frames" in quiet.splitlines()[-1]  # the summary is what the terminal shows
    assert events[-1]["type"] == "replay_finished" and events[-1]["corrupt"] + events[-1]["frames"] > 0
    verbose, _ = replay("-v")
    assert len([ln for ln in verbose.splitlines() if ln.startswith("[mjpeg @")]) >= FRAMES // 4
