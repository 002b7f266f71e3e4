"""The outbox imports on Python 3.10 (the Jetson's JetPack 6 Python), whose sqlite3 has no SQLITE_FULL /
SQLITE_IOERR names (added in 3.11). Simulated by removing them before the import, in a child process."""

from __future__ import annotations

import subprocess
import sys


def test_outbox_imports_without_the_3_11_sqlite_error_names():
    code = ("import sqlite3\n"
            "del sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR\n"
            "from edge_agent.events import outbox\n"
            "err = sqlite3.OperationalError('database or disk is full')\n"
            "assert outbox._disk_full(err)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
