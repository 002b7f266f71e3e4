"""``edge-agent run`` on a nearly full data disk (a real tmpfs) with events waiting in the outbox:
one line, exit 1, and the outbox still holds every event — a full disk is no corruption.

The probe's case: with ~72 KB free SQLite could not make the outbox's shared-memory file, the
agent called the outbox "unreadable", moved it aside and exited 2; its events were never sent.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
import yaml

from edge_agent.events.outbox import Outbox
from tests.runtime.test_startup_errors import _config
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)


@pytest.mark.parametrize("leave_kb", [20, 72])
def test_a_full_disk_at_start_keeps_the_outbox_and_says_so(tmp_path, models_dir, tiny_disk, leave_kb):  # noqa: F811
    data = tiny_disk(2)
    config = _config(tmp_path, models_dir, data)
    cfg = yaml.safe_load(config.read_text())
    cfg["mqtt"] = {"enabled": True, "brokers": ["mqtt://127.0.0.1:9"]}  # the backend is away
    config.write_text(yaml.safe_dump(cfg))
    with Outbox(data / "mqtt-outbox.sqlite") as box:
        for i in range(8):
            box.put("edge/s1/cam1/events", f'{{"event_id": "e{i}"}}'.encode())
    filler = fill(data, leave_kb * 1024)
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("edge-agent run: cannot start: disk full") and "nothing was moved aside" in last
    assert not list(data.glob("*.corrupt-*"))
    filler.unlink()
    db = sqlite3.connect(data / "mqtt-outbox.sqlite")
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 8
    db.close()
