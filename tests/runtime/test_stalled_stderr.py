"""A real ``edge-agent run`` whose stderr is never read (journald stuck, a pipe to a reader that hung): its pipe
full, each log line blocked the thread that wrote it. The lock loop logs as it decides, so an empty bay's arm never
rose and SIGTERM was not obeyed (probe locks41: 0 raises in 70 s against 27.9 s with stderr to a file, killed after
15 s of SIGTERM). Lines are now written by a thread of their own: a stall delays or drops log lines, never the agent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge_agent.sim.synthetic import BAYS, Scene, render
from tests.events.helpers import wait_until


def _config(tmp: Path, models: Path) -> Path:
    (tmp / "frames").mkdir()
    rng = np.random.default_rng(7)
    for i in range(10):  # a live camera's noise (a picture repeated bit for bit is a hung camera's)
        empty = render(Scene()).astype(np.int16)
        cv2.imwrite(
            str(tmp / "frames" / f"{i:04d}.jpg"),
            np.clip(empty + rng.integers(-3, 4, empty.shape), 0, 255).astype(np.uint8),
        )
    cfg = {
        "site": {"site_id": "s1", "device_id": "cam1"},
        "camera": {"source": str(tmp / "frames"), "fps": 5, "loop": True},
        "bays": [{"id": "A", "polygon": [list(p) for p in BAYS["A"]], "lock_id": "LA"}],
        "locks": [
            {
                "id": "LA",
                "driver": "simulator",
                "auto_raise_delay_s": 20,
                "simulator": {"travel_time_s": 0.5, "start": "down"},
            }
        ],
        "mqtt": {"enabled": False},
        "perception": {"models_dir": str(models)},
        "data_dir": str(tmp / "data"),
    }
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is already full: the next write to it blocks until someone reads (nobody will)."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    return r, w


def _raised(events: Path) -> bool:
    lines = events.read_text().splitlines() if events.exists() else []
    return any((e := json.loads(line)).get("type") == "lock_moved" and e["data"].get("state") == "up" for line in lines)


def test_an_agent_whose_stderr_is_never_read_still_raises_the_free_bays_arm_and_stops(
    tmp_path: Path, models_dir: Path
) -> None:
    config = _config(tmp_path, models_dir)
    r, w = _full_pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=w
        )
        try:
            wait_until(lambda: _raised(tmp_path / "data" / "events.jsonl"), 90, "the free bay's arm raised")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        os.close(r)
        os.close(w)
