"""Photo index rows held while another program holds ``evidence.db``'s write lock, kept on disk until written.

Why: a backup that writes, or a ``sqlite3`` shell left in a transaction, held the lock past the store's wait; the
photo's files were on disk, its row failed ("writing evidence … failed"), and the hourly ``sweep_orphans`` deleted
the photo an hour later as a crash's leftover — a violation's photo with it, though its event named it (probe
photohold28: 3 of 3 photos of a 45 s lock gone). The violation log holds its events the same way
(``violations.HELD_FILE``).

A held row goes into ``HELD_PHOTOS_FILE`` beside the database (written whole and synced at each change: at most
``HELD_PHOTOS_MAX`` rows of a few hundred bytes), so a stop, a SIGKILL or a power cut while it waits keeps it: the
next start writes it. Bounded: past ``HELD_PHOTOS_MAX`` the oldest plain photo goes (a violation's last), its files
deleted by the store, counted as skipped. The sweep never deletes a photo whose row is held (``holds``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from edge_agent.durable import read_small, write_durably
from edge_agent.ids import is_uuid

log = logging.getLogger(__name__)

HELD_PHOTOS_FILE = "held-photos.jsonl"
# rows held at most: ~3 h of a busy site's photos (300 an hour); each one's photo (~100-300 KB) is on the card
# and ``max_mb`` does not count it until its row is in
HELD_PHOTOS_MAX = 1000
HELD_PHOTOS_MAX_BYTES = 4 << 20  # what a start reads of the file: HELD_PHOTOS_MAX rows of a few KiB at most
COLUMNS = ("id", "bay_id", "visit_id", "kind", "ts", "epoch", "plate", "protected", "frame_file", "crop_file",
           "bytes", "meta")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # the folder of one day's photos (as ``store._DAY``)
Row = tuple[Any, ...]  # the ``evidence`` table's row, in ``COLUMNS`` order


def _row(line: bytes, protected_kinds: tuple[str, ...]) -> Row:
    """A held line read back; ValueError for one the store did not write (the file is the agent user's)."""
    d = json.loads(line)
    if not isinstance(d, dict) or not is_uuid(d.get("id")):
        raise ValueError("no photo id")
    eid = d["id"]
    for k, name in (("frame_file", f"{eid}.jpg"), ("crop_file", f"{eid}_crop.jpg")):  # only a name the store
        v = d.get(k)  # writes for this id (``YYYY-MM-DD/<id>[_crop].jpg``): never a path elsewhere
        if v is not None and not (isinstance(v, str) and _DAY.fullmatch(v.partition("/")[0])
                                  and v.partition("/")[2] == name):
            raise ValueError(f"{k} is no photo of {eid}")
    for k in ("bay_id", "visit_id", "plate"):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise ValueError(f"{k} is no text")
    if not isinstance(d.get("kind"), str) or not isinstance(d.get("ts"), str) or \
            not isinstance(d.get("epoch"), (int, float)) or not isinstance(d.get("bytes"), int) or \
            not isinstance(d.get("meta"), str):
        raise ValueError("kind, ts, epoch, bytes or meta missing")
    d["protected"] = int(bool(d.get("protected")) or d["kind"] in protected_kinds)
    return tuple(d[c] if c in d else None for c in COLUMNS)


class HeldRows:
    """The rows, in order, by id; ``path`` mirrors them (absent when none)."""

    def __init__(self, path: Path, like: Path, protected_kinds: tuple[str, ...]) -> None:
        self.path = path
        self._like = like  # the database: the file names plates as it does, and takes its mode and owner
        self._protected_kinds = protected_kinds
        self.rows: dict[str, Row] = {}
        self.kept = True  # the file says what ``rows`` holds (False: a write failed; said once)

    def __len__(self) -> int:
        return len(self.rows)

    def holds(self, eid: str) -> bool:
        return eid in self.rows

    def load(self) -> None:
        """At start: the rows a stop, a kill or a power cut left held. One whose photo is gone from disk is no row
        to write (it would name a missing picture)."""
        try:  # never through a link planted there, nor a FIFO's wait for a writer
            raw = read_small(self.path, HELD_PHOTOS_MAX_BYTES, nofollow=True)
            if len(raw) > HELD_PHOTOS_MAX_BYTES:
                raise OSError(f"more than {HELD_PHOTOS_MAX_BYTES >> 20} MiB")
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("evidence index: cannot read the photo rows held at the last stop (%s): %s", self.path, exc)
            return
        root = self.path.parent
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = _row(line, self._protected_kinds)
            except (ValueError, TypeError) as exc:  # json's errors are ValueErrors
                log.error("evidence index: %s line %d is no photo row, skipped: %s", self.path, n, exc)
                continue
            if any(f and (root / f).is_file() for f in (row[8], row[9])):
                self.rows[row[0]] = row
        log.info("evidence index: %d photo row(s) held at the last stop to be written (%s)", len(self.rows),
                 self.path)

    def add(self, row: Row) -> Row | None:
        """Hold ``row`` (kept on disk at once); returns the row given up to make room (its files are the caller's to
        delete), or None."""
        self.rows[row[0]] = row
        gone = None
        if len(self.rows) > HELD_PHOTOS_MAX:
            at = next((k for k, r in self.rows.items() if not r[7]), next(iter(self.rows)))
            gone = self.rows.pop(at)
        self.keep()
        return gone

    def clear(self) -> None:
        """Every row is in the database: the file goes (it names plates)."""
        self.rows.clear()
        try:
            self.path.unlink(missing_ok=True)
            self.kept = True
        except OSError as exc:  # written again at the next start: INSERT OR IGNORE, no harm
            log.warning("evidence index: cannot remove %s: %s", self.path, exc)

    def keep(self) -> None:
        """The file written whole, synced: a few hundred bytes a row, beside a photo's own syncs."""
        lines = [json.dumps(dict(zip(COLUMNS, r)), ensure_ascii=False, default=str) + "\n" for r in self.rows.values()]
        try:
            like = os.stat(self._like) if self._like.exists() else None
            write_durably(self.path, "".join(lines).encode("utf-8"), like=like)
            self.kept = True
        except OSError as exc:
            if self.kept:
                log.warning("evidence index: cannot keep the held photo rows in %s (%s): they wait in memory only, "
                            "and a stop or power cut before the lock goes loses them (the sweep then deletes the "
                            "photos)", self.path, exc)
            self.kept = False
