"""SIGTERM on ``replay`` and ``demo`` (a supervisor, ``timeout``, a CI job cancelled) stops them as
SIGINT does: between frames, cleanly — the agent stopped, the outbox closed and its WAL folded in —
with the summary written, and exit 128 + the signal (143). Before, the default handler killed them
mid-write: no summary, no ``replay_finished`` marker, the WAL left behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from edge_agent.sim.scenario import EMPTY, hold, scene_config
from tests.runtime.test_replay import write_clip

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _cli(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge_agent", *args], cwd=cwd, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigterm_ends_a_replay_with_its_summary_and_exit_143(tmp_path, models_dir):
    clip = tmp_path / "clip.avi"
    write_clip(clip, hold(60, EMPTY))  # 300 frames at camera.fps 5: far longer than the test waits
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir), "threads": 1})
    cfg_path = tmp_path / "site.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    proc = _cli("replay", str(cfg_path), str(clip), "-o", "/dev/stdout", cwd=tmp_path)
    assert json.loads(proc.stdout.readline())["type"] == "replay_started"  # the loop runs now
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    done = json.loads(out.strip().splitlines()[-1])
    assert done["type"] == "replay_finished" and done["interrupted"] is True and 0 <= done["clip_s"] < 60
    assert "replay: stopped by SIGTERM" in err and "Traceback" not in err


def test_sigterm_ends_the_demo_cleanly_with_its_story_told(tmp_path):
    data = tmp_path / "demo"
    proc = _cli("demo", "--data-dir", str(data), "--no-broker", cwd=tmp_path)
    told = []
    while not any("t=" in line for line in told):  # the first event: the story is under way
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-2000:]
        told.append(line)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    assert "stopped by a signal" in out and "done:" in out and "wait in the outbox" in out
    assert (data / "outbox.db").exists() and not (data / "outbox.db-wal").exists()  # closed, WAL folded in
    db = sqlite3.connect(data / "outbox.db")
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] > 0  # the events told wait on disk
    db.close()
