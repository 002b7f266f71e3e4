"""The outbox's defence against a full disk: a reserve file and a short WAL.

Why: events outrank photos, logs and everything else on the data disk. A reserve file of
``reserve_bytes`` beside the outbox is released the moment a write fails for space, so the
event goes in after all; and when space is short the WAL is folded into the database after
every write (each commit adds a few pages to it until SQLite's own checkpoint at ~4 MB, which
a nearly full disk never reaches). The reserve is re-made once the disk has room again.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

LOW_SPACE_BYTES = 1 << 20  # under this much free space the WAL is folded in after every write


class SpaceKeeper:
    """Used under the outbox's lock; ``fold`` runs ``PRAGMA wal_checkpoint(TRUNCATE)`` on its connection."""

    def __init__(self, db_path: Path, reserve_bytes: int, fold: Callable[[], None]) -> None:
        self.db_path = db_path
        self.reserve_path = db_path.with_name(db_path.name + ".reserve")
        self.reserve_bytes = reserve_bytes
        self.used = 0  # times the reserve was released for a write
        self._fold = fold
        self.ensure_reserve()

    def _free(self) -> int:
        return shutil.disk_usage(self.db_path.parent).free

    def ensure_reserve(self) -> None:
        """(Re)make the reserve file when the disk has clear room for it (twice its size)."""
        if self.reserve_bytes <= 0 or self.reserve_path.exists():
            return
        try:
            if self._free() < 2 * self.reserve_bytes:
                return
            with open(self.reserve_path, "wb") as f:
                f.write(b"\0" * self.reserve_bytes)  # written, not sparse: it must really hold the space
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            self.reserve_path.unlink(missing_ok=True)
            log.warning("outbox reserve %s not made: %s", self.reserve_path, exc)

    def after_write(self) -> None:
        """Short of space: keep the WAL short. With room again: re-make a released reserve. The row is
        committed already: a folder that cannot be asked (deleted under us) is no reason to raise."""
        try:
            free = self._free()
        except OSError as exc:
            log.debug("outbox folder %s cannot be measured: %s", self.db_path.parent, exc)
            return
        if free < max(2 * self.reserve_bytes, LOW_SPACE_BYTES):
            self.fold_wal(None)
        elif self.used and not self.reserve_path.exists():
            self.ensure_reserve()

    def fold_wal(self, exc: sqlite3.Error | None) -> bool:
        """Fold the WAL into the database and truncate it. True when it shrank (space came back)."""
        wal = Path(str(self.db_path) + "-wal")
        before = wal.stat().st_size if wal.exists() else 0
        try:
            self._fold()
        except sqlite3.Error:  # no room even for that: the reserve is next
            return False
        return before > 0 and (wal.stat().st_size if wal.exists() else 0) < before

    def release(self, exc: sqlite3.Error) -> bool:
        """Give the reserve's space back for the write that failed. False when there is none left, or
        when it cannot be deleted (a read-only file system): the caller then counts the loss, never raises."""
        if not self.reserve_path.exists():
            return False
        try:
            self.reserve_path.unlink()
        except OSError as unlink_exc:  # a card the kernel turned read-only: the write is a counted loss
            log.debug("outbox reserve %s cannot be released: %s", self.reserve_path, unlink_exc)
            return False
        self.used += 1
        log.error("disk full writing the outbox (%s): released its %.1f MB reserve so events still go in",
                  exc, self.reserve_bytes / 1e6)
        self.fold_wal(exc)  # with room now, fold the WAL in: it gives back far more than the reserve
        return True
