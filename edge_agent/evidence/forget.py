"""One plate's records deleted from a data folder: a data subject's request (PIPL art. 47, GDPR art. 17).

Why one place: the plate is in the photos and their index, the violations and decisions, the bay events, the audit
log (list edits, export filters), ``events.jsonl`` and the outboxes of events not yet delivered (MQTT, push, dead
letters). Deleting it by hand meant knowing every table and file; a copy left anywhere is a request not met.

What goes: every photo of a visit where the plate was read (the scene and the crop, files and rows), the snapshots
taken while such a visit stood in view (the whole view: ``_forget_snapshots``), those visits' violations with their
decisions, and undelivered messages that name the plate. What stays, plate taken out: the bay
events (arrival, departure, times: the statistics), the audit entries (who did what). Elsewhere: the allow / deny
lists are the operator's own choice (reported, not edited); the broker, the backend and the push endpoints hold what
was already delivered. The forget itself is audited, with the plate masked (``粤B***45``).

A visit whose plate was never read whole (only ``粤BD1234?``) names no plate, so a request for ``粤BD12345`` did not
reach it. Such a partial read could be the requested car's or another's (``粤BD12340``…``粤BD12349``): the visits whose
every read is partial and one of them one the plate fills (``fills``: same length, the same character at each
position read) are listed (``partial_visits``) and go only when the operator names them after looking at them
(``evidence forget PLATE --partial VISIT``); a visit read whole as another plate is that plate's.

Run with the agent stopped (``hold_data_dir``): the agent appends to these files while it runs.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.clock import Clock, iso
from edge_agent.durable import replacing
from edge_agent.evidence.held_rows import HELD_PHOTOS_FILE
from edge_agent.evidence.store import SNAPSHOT, remove_photo
from edge_agent.evidence.violations import HELD_FILE, plate_pattern, without_plates
from edge_agent.masking import MASK

log = logging.getLogger(__name__)

EVENTS_FILES = ("events.jsonl", "events.jsonl.1")


def masked(plate: str) -> str:
    """``粤BD12345`` → ``粤B***45``: enough to match a request to its audit entry, not to name the car."""
    return plate[:2] + MASK + plate[-2:] if len(plate) > 4 else MASK


def fills(plate: str, read: str) -> bool:
    """Whether ``plate`` could be what the partial ``read`` (``?`` where a character was not read) saw: the same
    length and the same character at every position read."""
    return "?" in read and len(read) == len(plate) and all(r in ("?", p) for r, p in zip(read, plate, strict=True))


@dataclass(frozen=True)
class PartialVisit:
    """A visit never read whole, one of whose partial reads the requested plate fills."""
    visit_id: str
    bay_id: str
    first_seen: str  # the read's time (ISO)
    read: str
    photos: int
    violations: tuple[int, ...]


def partial_visits(data_dir: Path, plate: str) -> list[PartialVisit]:
    """The visits a request for ``plate`` may also be about (module docstring), oldest first."""
    db_path = data_dir / "evidence" / "evidence.db"
    if not db_path.is_file():
        return []
    db = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "events" not in tables:
            return []
        seen: dict[str, tuple[str, str, str]] = {}
        for visit, bay, ts, text in db.execute(
                "SELECT visit_id, bay_id, ts, json_extract(data, '$.plate') AS p FROM events "
                "WHERE visit_id IS NOT NULL AND instr(p, '?') > 0 ORDER BY ts_epoch"):
            if isinstance(text, str) and visit not in seen and fills(plate, text):
                seen[visit] = (bay or "", ts, text)
        out = []
        for visit, (bay, ts, text) in seen.items():
            reads = {r[0] for r in db.execute("SELECT json_extract(data, '$.plate') FROM events WHERE visit_id=?",
                                              (visit,)) if isinstance(r[0], str) and r[0]}
            for table in ("evidence", "violations"):
                if table in tables:
                    reads |= {r[0] for r in db.execute(f"SELECT plate FROM {table} WHERE visit_id=?", (visit,))
                              if r[0]}
            if any("?" not in r for r in reads):  # read whole once: it is that plate's visit (or the plate's own)
                continue
            photos = db.execute("SELECT COUNT(*) FROM evidence WHERE visit_id=?", (visit,)).fetchone()[0] \
                if "evidence" in tables else 0
            cases = tuple(r[0] for r in db.execute("SELECT id FROM violations WHERE visit_id=? ORDER BY id",
                                                   (visit,))) if "violations" in tables else ()
            out.append(PartialVisit(visit, bay, ts, text, int(photos), cases))
        return out
    finally:
        db.close()


@dataclass
class Forgotten:
    """What one forget removed or cleaned, per place."""
    partial_visits: int = 0  # visits of a partial read the operator named (``--partial``)
    photos: int = 0
    violations: int = 0
    events: int = 0
    audit: int = 0
    event_lines: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    damaged: int = 0  # damaged copies set aside (``*.corrupt-*``) that held the plate, deleted whole
    snapshots: int = 0  # snapshots (a bay's or the whole view) taken while one of its visits stood in view
    foreign: int = 0  # file names in photo rows that are no photo the store writes (``remove_photo``): left alone
    # when one of its visits stood in view (epoch from, to; to inf for a visit not departed), ``IN_VIEW_MARGIN_S``
    # either side: for copies of the whole view kept outside the index (the installer page's labelled pictures)
    in_view: list[tuple[float, float]] = field(default_factory=list)
    labelled: int = 0  # labelled pictures (the installer page's "teach this camera") taken while it stood in view

    def summary(self) -> str:
        boxes = ", ".join(f"{n} from {name}" for name, n in self.outbox.items() if n) or "none"
        partial = f"{self.partial_visits} visit(s) of a partial read included; " if self.partial_visits else ""
        return (f"{partial}{self.photos} photo record(s) deleted, {self.violations} violation(s) deleted, plate taken out of "
                f"{self.events} bay event(s), {self.audit} audit entr(ies) and {self.event_lines} events.jsonl "
                f"line(s); undelivered messages deleted: {boxes}"
                + (f"; {self.damaged} damaged cop(ies) naming it deleted" if self.damaged else "")
                + (f"; {self.snapshots} snapshot(s) taken while it stood in view deleted" if self.snapshots else "")
                + (f"; {self.labelled} labelled picture(s) taken while it stood in view deleted" if self.labelled
                   else "")
                + (f"; {self.foreign} file name(s) in photo rows that are no evidence photo (an edited index?) left "
                   "alone" if self.foreign else ""))


# the installer page's labelled pictures and their rows (occupancy/labels.py: PAGE_LABELS, PAGE_FRAMES, labels.csv),
# which a forget deletes from: named here, below occupancy in the import order
LABELS_NAMES = ("labels", "labels/frames", "labels/labels.csv")


class LinkedFile(Exception):
    """A file the forget would open, read or write in the data folder is a symbolic link: nothing was done."""


def refuse_links(data_dir: Path, outboxes: list[Path]) -> None:
    """Raise ``LinkedFile`` when a file of ``data_dir`` a forget opens by name is a link. Why: the folder is the
    agent user's, and root's forget opened ``evidence.db``, the outboxes and ``events.jsonl`` through a link planted there, editing
    another program's database or copying a file only root may read (``events.jsonl`` → ``/var/log/auth.log``)
    into a new ``events.jsonl`` the agent's group reads. The agent itself makes none of these a link. The teach
    page's ``labels/`` too (``occupancy.labels``' names): a ``labels/frames`` linked to another folder had root delete
    the pictures there that a car's visit spans (by name and file time), ``labels/labels.csv`` was read through a link."""
    names = [data_dir / "evidence" / "evidence.db", data_dir / "evidence" / HELD_FILE,
             data_dir / "evidence" / HELD_PHOTOS_FILE, *(data_dir / n for n in EVENTS_FILES),
             *(b for b in outboxes if b.is_relative_to(data_dir)),
             *(data_dir / n for n in LABELS_NAMES)]
    names += [Path(f"{n}{x}") for n in list(names) if n.suffix in (".db", ".sqlite") for x in ("-wal", "-shm",
                                                                                             "-journal")]
    for n in names:
        if n.is_symlink():
            raise LinkedFile(f"{n}: a symbolic link where the agent keeps a file (planted by whoever writes the data "
                             "folder?): remove it and run again; nothing deleted")


def forget_plate(data_dir: Path, plate: str, clock: Clock, user: str, outboxes: list[Path],
                 partial: frozenset[str] = frozenset(),
                 copies: Callable[[list[tuple[float, float]]], int] | None = None) -> Forgotten:
    """Delete ``plate`` (normalised) from ``data_dir``; audit it as ``user``. The caller holds the data folder.
    ``partial``: visits of ``partial_visits`` the operator looked at and named: forgotten as the plate's own.
    ``copies``: deletes the whole-view pictures kept outside the index that were taken while the car stood in view
    (given ``Forgotten.in_view``; returns how many), before the audit row that counts them."""
    out = Forgotten(partial_visits=len(partial))
    refuse_links(data_dir, outboxes)
    db_path = data_dir / "evidence" / "evidence.db"
    reads, visits = _forget_in_index(db_path, plate, clock, user, out, set(partial)) if db_path.is_file() \
        else (set(), set())
    match = _Match(plate, reads, visits)
    for name in EVENTS_FILES:
        out.event_lines += _scrub_lines(data_dir / name, match)
    # the events a stop kept for the next start (the database was locked): those naming the car go whole, as the
    # index's violations of its visits do; the next start writes the others
    out.event_lines += _scrub_lines(data_dir / "evidence" / HELD_FILE, match, drop=True)
    # the photo rows a lock kept out of the index (``held_rows.py``): the car's, and the snapshots taken while it
    # stood in view, go with their photos, as the index's do
    out.photos += _forget_held_photos(data_dir / "evidence", match, out)
    for box in outboxes:
        if box.is_file():
            out.outbox[str(box.relative_to(data_dir)) if box.is_relative_to(data_dir) else str(box)] = \
                _delete_messages(box, match)
    if copies is not None and out.in_view:
        out.labelled = copies(out.in_view)
    out.damaged = _delete_damaged({data_dir, data_dir / "evidence", data_dir / "notify-dead",
                                   *(b.parent for b in outboxes)}, match)
    if db_path.is_file():  # the forget itself, in the page's audit log: who, when, what was removed
        db = sqlite3.connect(db_path, timeout=10)
        try:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='audit'").fetchone():
                with db:
                    db.execute("INSERT INTO audit (ts, user, action, target, detail, ip) VALUES (?,?,?,?,?,?)",
                               (iso(clock.now()), user, "plate_forgotten", f"plate:{masked(plate)}", out.summary(),
                                ""))
        finally:
            db.close()
    return out


class _Match:
    """Which text of a JSON document is the forgotten car's: ``plate`` anywhere; the other texts its visits were read
    as (a partial read ``粤BD1234?``, a misread) only in a document of one of those ``visits`` — another car in
    another visit may have been read the same, and its records (an undelivered violation) are not the request's."""

    def __init__(self, plate: str, reads: set[str], visits: set[str]) -> None:
        self.plate = plate
        self.reads = sorted({plate} | reads, key=len, reverse=True)
        self.visits = visits
        self._plate = plate_pattern([plate])
        self._reads = plate_pattern(self.reads)

    def plates_in(self, text: str) -> list[str] | None:
        """The texts to take out of ``text`` (a line, a payload), or None when it names none of them."""
        assert self._plate is not None and self._reads is not None
        if any(f'"{v}"' in text for v in self.visits):
            return self.reads if self._reads.search(text) else None
        return [self.plate] if self._plate.search(text) else None


def _forget_in_index(db_path: Path, plate: str, clock: Clock, user: str,
                     out: Forgotten, partial: set[str]) -> tuple[set[str], set[str]]:
    """The photos, violations, events and audit of ``evidence.db``; returns every plate text the visits were read as
    (a partial read ``粤BD1234?`` of the same visit too) and those visits (``partial``'s among them)."""
    db = sqlite3.connect(db_path, isolation_level=None, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA secure_delete=ON")  # the rows' bytes overwritten, not left in free pages
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        db.execute("BEGIN IMMEDIATE")
        visits: set[str] = set(partial)
        if "evidence" in tables:
            visits |= {r[0] for r in db.execute("SELECT visit_id FROM evidence WHERE plate=? AND visit_id IS NOT NULL",
                                                (plate,))}
        if "violations" in tables:
            visits |= {r[0] for r in db.execute("SELECT visit_id FROM violations WHERE plate=? AND visit_id IS NOT NULL",
                                                (plate,))}
        if "events" in tables:
            visits |= {r[0] for r in db.execute(
                "SELECT DISTINCT visit_id FROM events WHERE visit_id IS NOT NULL AND json_extract(data, '$.plate')=?",
                (plate,))}
        marks = ",".join("?" * len(visits))
        plates = {plate}
        if "events" in tables and visits:
            for (text,) in db.execute(f"SELECT json_extract(data, '$.plate') FROM events WHERE visit_id IN ({marks})",
                                      tuple(visits)):
                if text:
                    plates.add(str(text))
        longest = sorted(plates, key=len, reverse=True)
        if "evidence" in tables:
            root = db_path.parent
            rows = db.execute(f"SELECT id, frame_file, crop_file FROM evidence WHERE plate=? OR visit_id IN ({marks})",
                              (plate, *visits)).fetchall()
            for r in rows:
                for rel in (r["frame_file"], r["crop_file"]):
                    if rel and not remove_photo(root, str(rel)):
                        out.foreign += 1
            db.executemany("DELETE FROM evidence WHERE id=?", [(r["id"],) for r in rows])
            out.photos = len(rows)
            if "events" in tables:
                out.snapshots = _forget_snapshots(db, root, visits, out)
        if "violations" in tables:
            ids = [(r[0],) for r in db.execute(f"SELECT id FROM violations WHERE plate=? OR visit_id IN ({marks})",
                                               (plate, *visits))]
            if "decisions" in tables:
                db.executemany("DELETE FROM decisions WHERE violation_id=?", ids)
            db.executemany("DELETE FROM violations WHERE id=?", ids)
            out.violations = len(ids)
        if "events" in tables:
            rows = db.execute(f"SELECT event_id, visit_id, data FROM events WHERE visit_id IN ({marks})"
                              " OR instr(data, ?) > 0", (*visits, plate)).fetchall()
            changed = []
            for r in rows:
                try:
                    data = json.loads(r["data"]) if r["data"] else None
                except ValueError:
                    data = None
                if isinstance(data, dict):  # the visits' other reads out of the visits' events only (``_Match``)
                    new = json.dumps(without_plates(data, longest if r["visit_id"] in visits else [plate]),
                                     ensure_ascii=False)
                    if new != r["data"]:
                        changed.append((new, r["event_id"]))
            db.executemany("UPDATE events SET data=? WHERE event_id=?", changed)
            out.events = len(changed)
        if "audit" in tables:
            rows = db.execute("SELECT id, target, detail FROM audit").fetchall()
            changed_audit = []
            whole = plate_pattern([plate])  # no visit here: the requested plate only
            assert whole is not None
            for r in rows:
                target, detail = whole.sub(MASK, r["target"] or ""), whole.sub(MASK, r["detail"] or "")
                if (target, detail) != (r["target"] or "", r["detail"] or ""):
                    changed_audit.append((target, detail, r["id"]))
            db.executemany("UPDATE audit SET target=?, detail=? WHERE id=?", changed_audit)
            out.audit = len(changed_audit)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL's frames held the rows before the change
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()
    return plates - {plate}, visits


IN_VIEW_MARGIN_S = 120.0  # a car is in the picture before its arrival is confirmed and after it starts to leave


def _forget_snapshots(db: sqlite3.Connection, root: Path, visits: set[str], out: Forgotten) -> int:
    """Delete the snapshots taken while one of ``visits`` stood in view: the installer's picture and a bay's snapshot
    are the whole camera view, with every parked car's plate, and name no plate or another bay's visit, so the photos
    of the car's visits left them (a forget left the installer's picture of the car, plate readable, for up to
    ``max_age_days``). From the visit's first event to its departure, ``IN_VIEW_MARGIN_S`` either side; a visit not
    departed reaches every later snapshot. Snapshots are disposable: one too many going costs nothing."""
    rows: dict[str, tuple[str | None, str | None]] = {}
    for visit in visits:
        first, left = db.execute("SELECT MIN(ts_epoch), MAX(CASE WHEN type='vehicle_departed' THEN ts_epoch END) "
                                 "FROM events WHERE visit_id=?", (visit,)).fetchone()
        if first is None:
            continue
        until = float("inf") if left is None else left + IN_VIEW_MARGIN_S
        out.in_view.append((first - IN_VIEW_MARGIN_S, until))
        for r in db.execute("SELECT id, frame_file, crop_file FROM evidence WHERE kind=? AND epoch >= ? AND epoch <= ?",
                            (SNAPSHOT, first - IN_VIEW_MARGIN_S, until)):
            rows[r[0]] = (r[1], r[2])
    for frame, crop in rows.values():
        for rel in (frame, crop):
            if rel and not remove_photo(root, str(rel)):
                out.foreign += 1
    db.executemany("DELETE FROM evidence WHERE id=?", [(eid,) for eid in rows])
    return len(rows)


def _forget_held_photos(root: Path, match: _Match, out: Forgotten) -> int:
    """Held photo rows (``HELD_PHOTOS_FILE``) naming the car, or snapshots taken while it stood in view: their photos
    deleted and their lines dropped (the file rewritten); returns how many."""
    path = root / HELD_PHOTOS_FILE
    try:  # never through a link, nor a FIFO's wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return 0
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return 0
        lines = fh.read().splitlines(keepends=True)
    kept, gone = [], 0
    for raw in lines:
        try:
            row = json.loads(raw)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            kept.append(raw)  # no row of ours: the next start skips it, named
            continue
        epoch = row.get("epoch")
        in_view = row.get("kind") == SNAPSHOT and isinstance(epoch, (int, float)) and \
            any(lo <= epoch <= hi for lo, hi in out.in_view)
        if not in_view and match.plates_in(raw.decode("utf-8", "replace")) is None:
            kept.append(raw)
            continue
        for rel in (row.get("frame_file"), row.get("crop_file")):
            if isinstance(rel, str) and not remove_photo(root, rel):
                out.foreign += 1
        gone += 1
    if gone:
        with replacing(path, like=st) as fh_out:
            fh_out.write(b"".join(kept))
    return gone


def _scrub_lines(path: Path, match: _Match, drop: bool = False) -> int:
    """Lines of a JSON-lines file that name the forgotten car (``_Match``), with its plates taken out (``drop``: the
    lines removed); the file replaced atomically. Worked on bytes: every other line stays byte for byte as it was (a torn write's invalid
    UTF-8, a ``\r``, a U+2028 inside a text); decoding the whole file with ``errors="replace"`` turned such bytes
    into U+FFFD, data changed that nobody asked to change. Read line by line, twice (whether any line names the car,
    then the copy): a year of ``events.jsonl`` is hundreds of MB, and it was read whole, then split, on a device with
    1 GB of memory."""
    try:  # never through a link (``refuse_links``: one planted since fails, ELOOP), nor a FIFO's wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return 0
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not any(_scrubbed(raw, match, drop) is not None for raw in fh):
            return 0
        fh.seek(0)
        n = 0
        with replacing(path, like=st) as out:  # still the agent's: it appends to it
            for raw in fh:
                line = _scrubbed(raw, match, drop)
                if line is None:  # not the car's; a blank line is left out where lines are dropped, as it was
                    line = b"" if drop and raw == b"\n" else raw
                else:
                    n += 1
                out.write(line)
    return n


def _scrubbed(raw: bytes, match: _Match, drop: bool) -> bytes | None:
    """``raw`` (one line, its ``\n`` if it has one) as written back when it names the car (``drop``: nothing), else
    None."""
    newline = b"\n" if raw.endswith(b"\n") else b""
    body = raw[:-1] if newline else raw
    body, end = (body[:-1], b"\r") if body.endswith(b"\r") else (body, b"")
    text = body.decode("utf-8", "surrogateescape")  # invalid bytes kept as lone surrogates, given back as they were
    plates = match.plates_in(text)
    if plates is None:
        return None
    return b"" if drop else _without(body, text, plates) + end + newline


def _without(body: bytes, text: str, plates: list[str]) -> bytes:
    """One line naming the car, its ``plates`` taken out: as JSON where it is valid UTF-8 JSON (the ``plate`` key
    goes), else the texts masked in place, the line's other bytes untouched."""
    obj: Any = None
    try:
        obj = json.loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError too: a line with invalid bytes is not rewritten as JSON
        pass
    if isinstance(obj, dict):
        doc = without_plates(obj, plates)
        try:
            return json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a ``\ud800`` escape in the line: kept as an escape
            return json.dumps(doc).encode("utf-8")
    whole = plate_pattern(plates)
    assert whole is not None
    return whole.sub(MASK, text).encode("utf-8", "surrogateescape")


def _delete_damaged(folders: set[Path], match: _Match) -> int:
    """Damaged copies of the index and the outboxes (``*.corrupt-*``, set aside for whoever investigates) whose bytes
    name the car, deleted with their ``-wal`` / ``-shm``: a damaged file cannot be edited row by row, and its
    readable rows were copied into the fresh file when it was set aside (there the forget reached them)."""
    texts = [t.encode() for t in match.reads]
    n = 0
    for folder in sorted(folders):
        for copy in sorted(p for pattern in ("*.db.corrupt-*", "*.sqlite.corrupt-*") for p in folder.glob(pattern)
                           if not p.name.endswith(("-wal", "-shm"))):
            parts = [copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")]
            if any(p.is_symlink() for p in parts):  # the agent sets none aside as a link: not read through one
                continue
            blob = b"".join(p.read_bytes() for p in parts if p.is_file())
            if match.plates_in(blob.decode("utf-8", "replace")) is not None \
                    or (match.visits and any(t in blob for t in texts) and _names_a_visit(blob, match.visits)):
                for p in parts:
                    p.unlink(missing_ok=True)
                n += 1
    return n


def _names_a_visit(blob: bytes, visits: set[str]) -> bool:
    return any(v.encode() in blob for v in visits)


def _delete_messages(path: Path, match: _Match) -> int:
    """Undelivered messages (an outbox's ``outbox`` table) whose payload names the forgotten car (``_Match``)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='outbox'").fetchone() is None:
            return 0
        db.execute("PRAGMA secure_delete=ON")
        like = " OR ".join("instr(payload, ?) > 0" for _ in match.reads)
        doomed = [(seq,) for seq, payload in db.execute(f"SELECT seq, payload FROM outbox WHERE {like}",
                                                        tuple(p.encode() for p in match.reads))
                  if match.plates_in(bytes(payload).decode("utf-8", "replace")) is not None]
        db.executemany("DELETE FROM outbox WHERE seq=?", doomed)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(doomed)
    finally:
        db.close()
