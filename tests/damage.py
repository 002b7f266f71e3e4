"""A card's bad block in an SQLite file, for the salvage tests (outbox, evidence index, replay memory)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest


def damage_pages(path: Path, name: str, *which: int, leaves: bool = True) -> int:
    """Overwrite pages of the table or index ``name`` in ``path`` with 0xFF, as a bad block does: ``which`` are their
    indexes in key order (none: the middle one); ``leaves`` only, else every page (the root first). Returns how many
    such pages there were; skips the test where this SQLite has no ``dbstat``. The WAL is folded in first."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        kind = " AND pagetype = 'leaf'" if leaves else ""
        pages = [r[0] for r in db.execute(f"SELECT pageno FROM dbstat WHERE name = ?{kind} ORDER BY path", (name,))]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat")
    finally:
        size = db.execute("PRAGMA page_size").fetchone()[0]
        db.close()
    with open(path, "r+b") as f:
        for w in which or (len(pages) // 2,):
            f.seek((pages[w] - 1) * size)
            f.write(b"\xff" * size)
    return len(pages)
