"""Is an SQLite file damaged, or is the disk under it just full? The one rule for our stores.

Why: a store that cannot be opened used to be moved aside as "corrupt" whatever the error, so
a nearly full disk — SQLite then fails with ``SQLITE_FULL``, or ``disk I/O error`` when the WAL
or its shared-memory file cannot grow — discarded a healthy outbox with the events it held.
Only positive evidence of damage may quarantine a file: ``SQLITE_CORRUPT`` ("database disk image
is malformed"), ``SQLITE_NOTADB`` ("file is not a database"), or ``PRAGMA quick_check`` failing
on a file that could be read. Everything else (no space, an I/O error, no permission) leaves the
file where it is, to be retried.

Codes by number: ``sqlite3`` names them only from Python 3.11 and the Jetson's JetPack 6 runs
3.10, where the messages are all there is.
"""

from __future__ import annotations

import errno
import glob
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from edge_agent.durable import fsync_dir

log = logging.getLogger(__name__)
T = TypeVar("T")

KEEP_ASIDE = 3  # damaged copies kept per file, the newest: enough to investigate, bounded on a failing card
_CORRUPT, _NOTADB = 11, 26
_FULL, _IOERR = 13, 10
_BUSY, _LOCKED, _READONLY = 5, 6, 8
_CORRUPT_WORDS = ("malformed", "not a database")
_SPACE_WORDS = ("full", "disk i/o error")


class Damaged(sqlite3.DatabaseError):
    """Raised by our own checks (``PRAGMA quick_check`` said no): damage, whatever the words."""


def _primary(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_corruption(exc: BaseException) -> bool:
    """True only for an error that says the file itself is damaged."""
    if isinstance(exc, Damaged):
        return True
    code = _primary(exc)
    if code is not None:
        return code in (_CORRUPT, _NOTADB)
    return isinstance(exc, sqlite3.DatabaseError) and any(w in str(exc).lower() for w in _CORRUPT_WORDS)


def is_unavailable(exc: BaseException) -> bool:
    """A database another connection holds locked past the wait, or one that is read-only (a card gone read-only):
    a moment's or an operator's matter, not damage and not a full disk."""
    code = _primary(exc)
    if code is not None:
        return code in (_BUSY, _LOCKED, _READONLY)
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "readonly" in text)


def is_no_space(exc: BaseException) -> bool:
    """A full disk: ``SQLITE_FULL``, an SQLite I/O error (a WAL or ``-shm`` that cannot grow), ENOSPC."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    code = _primary(exc)
    if code is not None:
        return code in (_FULL, _IOERR)
    return isinstance(exc, sqlite3.Error) and any(w in str(exc).lower() for w in _SPACE_WORDS)


def integrity_problems(db: sqlite3.Connection, limit: int = 3) -> list[str]:
    """``PRAGMA quick_check``'s complaints (empty when the file is sound). Errors while checking
    (no space for the shared memory, say) propagate: they are no verdict on the file."""
    rows = [str(r[0]) for r in db.execute(f"PRAGMA quick_check({int(limit)})")]
    return [] if rows == ["ok"] else rows


def move_aside(path: Path, suffix: str) -> Path:
    """Rename ``path`` and its ``-wal`` / ``-shm`` to ``path.name + suffix`` (the WAL may hold
    committed rows a salvage can still read); returns the new main file's path. A name already taken gets ``-2``,
    ``-3``…: named by the second, a second salvage in the same second (a crash-looping start on a failing card) replaced
    the first copy, the one holding what could not be read (probe chaos40)."""
    aside, n = path.with_name(path.name + suffix), 1
    while any(Path(str(aside) + extra).exists() for extra in ("", "-wal", "-shm")):
        n += 1
        aside = path.with_name(f"{path.name}{suffix}-{n}")
    path.replace(aside)
    for extra in ("-wal", "-shm"):
        side = Path(str(path) + extra)
        if side.exists():
            side.replace(Path(str(aside) + extra))
    return aside


def built_beside(path: Path) -> Path:
    """Where a salvage builds the fresh file for ``path`` (``NAME.salvage``), emptied first, named ``path`` only once
    complete (``adopt_built``). Why: the fresh file took the name before the copy, and a kill during it (seconds on a
    Pi) left an empty file the next start found healthy: the outbox's waiting events and the evidence index's history
    stayed in the copy set aside, and the index's photos were then swept as files no row names (probe review80)."""
    building = path.with_name(path.name + ".salvage")
    _remove_db(building)  # a killed salvage's half
    return building


def adopt_built(path: Path) -> None:
    """At an open: a complete salvage's file takes ``path``'s name when a kill came after the damaged file went aside
    (the name is free); otherwise a half-built one is deleted (its rows name plates, and nothing else would)."""
    building = path.with_name(path.name + ".salvage")
    if not path.exists() and building.exists():
        _sides_to_copy(path)
        building.replace(path)
        fsync_dir(path.parent)
    elif building.exists():
        _remove_db(building)


def _sides_to_copy(path: Path) -> None:
    """A ``-wal`` / ``-shm`` at the free name ``path`` is the damaged file's, left by a kill inside ``move_aside``
    (its main file went, they did not): moved beside its copy (the newest ``.corrupt-*``), or deleted where that
    already has its own. Why: SQLite reads a WAL it finds beside a file whatever that file's header says, so the
    damaged file's committed pages were laid over the fresh one (an outbox held four events twice; a fresh replay
    memory could lose its note of the fresh start, review90). The fresh file is one complete file: it has none."""
    sides = [side for extra in ("-wal", "-shm") if (side := Path(str(path) + extra)).exists()]
    if not sides:
        return
    copies = [p for p in path.parent.glob(glob.escape(path.name + ".corrupt-") + "*")
              if not p.name.endswith(("-wal", "-shm"))]
    copy = max(copies, key=lambda p: p.stat().st_ctime, default=None)
    for side in sides:
        target = None if copy is None else Path(str(copy) + side.name[len(path.name):])
        if target is not None and not target.exists():
            side.replace(target)
        else:
            side.unlink()
    log.warning("%s: the damaged file's %s left at its name by an interrupted salvage, moved to its copy %s",
                path.name, " and ".join(s.name for s in sides), copy.name if copy is not None else "(none: deleted)")


def finish_built(path: Path, building: Path) -> None:
    """The fresh file built (closed, its journal folded in) takes ``path``'s name, made durable."""
    building.replace(path)
    fsync_dir(path.parent)


def rebuild_beside(path: Path, connect: Callable[[Path], sqlite3.Connection],
                   fill: Callable[[sqlite3.Connection], T], suffix: str) -> tuple[Path, T]:
    """A fresh file for the damaged ``path``, built beside it (``built_beside``) by ``connect`` and ``fill`` (what can
    be read from the damaged one, a note), made one complete file, then the damaged one moved aside (``path.name +
    suffix``, numbered when taken) and the fresh one given its name. Returns where the damaged one went and what
    ``fill`` returned. Why in that order: a kill before the move leaves the damaged file to rebuild again, one after
    it the complete fresh file (``adopt_built``), never an empty file found healthy (probe review80). The outbox,
    the evidence index and the command replay memory rebuild alike; each prunes its old copies once it has said so."""
    building = built_beside(path)
    db = connect(building)
    try:
        got = fill(db)
        db.execute("PRAGMA journal_mode=DELETE")  # one file, complete, to take the name (WAL again when opened)
    finally:
        db.close()
    aside = move_aside(path, suffix)
    finish_built(path, building)
    return aside, got


def _remove_db(path: Path) -> None:
    for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm"), Path(str(path) + "-journal")):
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not delete %s: %s", p, exc)


def prune_aside(path: Path, keep: int = KEEP_ASIDE, first: bool = False) -> int:
    """Delete all but the newest ``keep`` damaged copies of ``path`` (``NAME.corrupt-*``, each with its
    ``-wal`` / ``-shm``), newest by when they were moved aside; returns how many copies went. ``first``: the oldest
    is one of the ``keep`` (the lock latches: later copies are the agent's own fail-safe document damaged again).

    Why: every quarantine left its copy for ever. A card that keeps damaging a file (worn, or a power supply
    that browns out at each start) set a copy of the evidence index aside at each restart, each as large as
    years of review history, until the card was full. Never raises: housekeeping must not stop a start."""
    prefix = path.name + ".corrupt-"
    try:
        copies = [(p.stat().st_ctime, p) for p in path.parent.glob(glob.escape(prefix) + "*")
                  if not p.name.endswith(("-wal", "-shm"))]
    except OSError:
        return 0
    newest_first = [p for _, p in sorted(copies, key=lambda c: c[0], reverse=True)]
    doomed = newest_first[keep - 1 : -1] if first and len(newest_first) > keep else newest_first[keep:]
    removed = sum(_remove_copy(old) for old in doomed)
    if removed:
        log.warning("removed %d older damaged copies of %s (the newest %d are kept)", removed, path.name, keep)
    return removed


def _remove_copy(old: Path) -> int:
    """Remove one damaged copy with its ``-wal`` / ``-shm``: 1 when it went, 0 (logged) when it could not."""
    try:
        for p in (old, Path(str(old) + "-wal"), Path(str(old) + "-shm")):
            p.unlink(missing_ok=True)
        return 1
    except OSError as exc:
        log.warning("damaged copy %s not removed: %s", old, exc)
        return 0


def expire_aside(folders: list[Path], max_age_s: float, now: float) -> int:
    """Delete the damaged copies of SQLite files (``*.db.corrupt-*``, ``*.sqlite.corrupt-*``, with their ``-wal``
    / ``-shm``) in ``folders`` last written more than ``max_age_s`` before ``now`` (wall clock, s); returns how many
    copies went. Never raises. (A lock latch file's copy names no plate: ``prune_aside`` alone bounds it.)

    Why: a copy holds what the file held when it was set aside — an evidence index's plates, an outbox's
    undelivered events — and ``prune_aside`` bounds their number, not their age: the newest three stayed for good,
    past every retention of the plates in them (the rows that could be read were copied into the fresh file,
    under its retention). A copy is for whoever investigates, within the time the photos are kept."""
    removed = 0
    for folder in folders:
        try:
            copies = [p for pattern in ("*.db.corrupt-*", "*.sqlite.corrupt-*") for p in folder.glob(pattern)
                      if not p.name.endswith(("-wal", "-shm"))]
        except OSError:
            continue
        for old in copies:
            try:
                if now - old.stat().st_mtime <= max_age_s:
                    continue
            except OSError:  # gone meanwhile
                continue
            removed += _remove_copy(old)
    if removed:
        log.warning("removed %d damaged cop(ies) older than %.0f days", removed, max_age_s / 86400)
    return removed


def rows_past_damage(src: sqlite3.Connection, table: str, columns: str, skipped: list[int]
                     ) -> Iterator[tuple[object, ...]]:
    """The rows (``columns``) of ``table`` in ``src`` in rowid order, stepping over damaged pages; ``skipped[0]``
    counts the rows the damage took: exactly, by an index of the table that can still be read whole (it names every
    row), else the rowids stepped over (rows deleted there count too, an upper bound). Why exact: the gap in the
    outbox's ``seq`` counted its delivered rows as lost (154 for 3 with its first page damaged) and a damaged last page
    (its newest rows) not at all (probe review80). Each row is its own
    lookup, which descends the table by key: one past a bad page works where a scan through it fails (and a cursor's
    step to the next row, made as it hands one over, lost the last good row before the damage too). Why: a scan
    stopped at the first bad page, and one bad block in the middle of a table cost every row behind it: 101 of 200
    waiting events for the 4 on the page (probe chaos38). A table without rowids raises ``sqlite3.Error``."""
    log_at = f"{table}: a damaged page from row %d: %s"
    indexed = _indexed_rows(src, table)  # (rows, largest rowid) as an intact index names them, or None
    try:
        top = src.execute(f'SELECT MAX(rowid) FROM "{table}"').fetchone()[0]
    except sqlite3.Error as exc:
        if not is_corruption(exc):
            raise
        top = indexed[1] if indexed else None  # the table's right edge unreadable: the index's, else up to the damage
    one = f'SELECT rowid, {columns} FROM "{table}" WHERE rowid >= ? ORDER BY rowid LIMIT 1'
    read_gap = [0, 0]
    try:
        yield from _rows_from(src, table, one, log_at, top, read_gap)
    finally:
        skipped[0] += max(0, indexed[0] - read_gap[0]) if indexed else read_gap[1]


def _rows_from(src: sqlite3.Connection, table: str, one: str, log_at: str, top: int | None, read_gap: list[int]
               ) -> Iterator[tuple[object, ...]]:
    """``rows_past_damage``'s walk: ``read_gap`` counts the rows handed over and the rowids stepped over."""
    start = 1  # the agent's tables number their rows from 1
    while True:  # ``start`` grows at every turn
        try:
            row = src.execute(one, (start,)).fetchone()
        except sqlite3.Error as exc:
            if not is_corruption(exc):
                raise
            log.warning(log_at, start, exc)
            nxt = None if top is None else _first_readable(src, table, start + 1, int(top))
            read_gap[1] += (int(top) + 1 if nxt is None and top is not None else nxt or start) - start
            if nxt is None:
                return
            start = nxt
            continue
        if row is None or int(row[0]) < start:  # a damaged tree can lead back: never read a row twice
            return
        start = int(row[0]) + 1
        read_gap[0] += 1
        yield tuple(row[1:])


def _indexed_rows(src: sqlite3.Connection, table: str) -> tuple[int, int] | None:
    """How many rows, and the largest rowid, a whole index of ``table`` names (an index's pages are apart from the
    table's, and it holds each row's rowid); None when no index that names every row can be read through."""
    try:
        found = src.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
                            (table,)).fetchall()
    except sqlite3.Error:
        return None
    for name, sql in found:
        if sql is not None and " WHERE " in sql.upper():  # a partial index names only some rows
            continue
        try:
            n, top = src.execute(f'SELECT COUNT(*), MAX(rowid) FROM "{table}" INDEXED BY "{name}"').fetchone()
        except sqlite3.Error:
            continue
        return int(n), int(top or 0)
    return None


def _first_readable(src: sqlite3.Connection, table: str, lo: int, top: int) -> int | None:
    """The smallest rowid in ``lo..top`` a lookup reaches (None: none): doubling steps past the damage, then halving
    back to its end, so a long table costs a few dozen lookups, not one per number."""
    first = f'SELECT rowid FROM "{table}" WHERE rowid >= ? ORDER BY rowid LIMIT 1'

    def reach(k: int) -> int | None:
        try:
            row = src.execute(first, (k,)).fetchone()
        except sqlite3.Error:
            return None
        return int(row[0]) if row is not None else top + 1

    step, hi = 1, lo
    while (found := reach(hi)) is None:
        if hi >= top:
            return None
        lo, hi, step = hi + 1, min(hi + step, top), step * 2
    if found > top:
        return None
    while lo < hi:  # lookups from ``lo`` fail, from ``hi`` reach ``found``: the first that reaches
        mid = (lo + hi) // 2
        got = reach(mid)
        if got is None:
            lo = mid + 1
        else:
            hi, found = mid, got
    return found


@contextmanager
def salvage_from(source: Path, db: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[sqlite3.Connection | None]:
    """A damaged file moved aside, opened read-only (None when even that fails), and one transaction on the fresh
    ``db`` to copy its readable rows into: committed when the copy ends, rolled back on any error (a full disk
    leaves nothing half-copied), ``source`` closed either way. The outbox and the evidence index salvage alike."""
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        yield None
        return
    try:
        db.execute(begin)
        try:
            yield src
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        src.close()
