"""`demo` on a data dir whose evidence index another program holds (a backup's lock, a second agent): one line
naming the cause and exit 1, as `run` says it (``runtime.preflight.explain``), not a traceback (probe updown27)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys


def test_demo_on_a_held_evidence_index_says_so_in_one_line(tmp_path):
    (tmp_path / "evidence").mkdir()
    holder = sqlite3.connect(tmp_path / "evidence" / "evidence.db", isolation_level=None)
    holder.execute("CREATE TABLE held (a)")
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        r = subprocess.run([sys.executable, "-m", "edge_agent", "demo", "--no-broker", "--data-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=300)
    finally:
        holder.close()
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "edge-agent demo: cannot start: database error: database is locked" in r.stderr, r.stderr[-2000:]
