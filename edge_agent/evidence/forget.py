"""One plate's records deleted from a data folder: a data subject's request (PIPL art. 47, GDPR art. 17).

Why one place: the plate is in the photos and their index, the violations and decisions, the bay events, the audit
log (list edits, export filters), ``events.jsonl`` and the outboxes of events not yet delivered (MQTT, push, dead
letters). Deleting it by hand meant knowing every table and file; a copy left anywhere is a request not met.

What goes: every photo of a visit where the plate was read (the scene and the crop, files and rows), those visits'
violations with their decisions, and undelivered messages that name the plate. What stays, plate taken out: the bay
events (arrival, departure, times: the statistics), the audit entries (who did what). Elsewhere: the allow / deny
lists are the operator's own choice (reported, not edited); the broker, the backend and the push endpoints hold what
was already delivered. The forget itself is audited, with the plate masked (``粤B***45``).

Run with the agent stopped (``hold_data_dir``): the agent appends to these files while it runs.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.clock import Clock, iso
from edge_agent.durable import write_durably
from edge_agent.evidence.violations import plate_pattern, without_plates

log = logging.getLogger(__name__)

EVENTS_FILES = ("events.jsonl", "events.jsonl.1")


def masked(plate: str) -> str:
    """``粤BD12345`` → ``粤B***45``: enough to match a request to its audit entry, not to name the car."""
    return plate[:2] + "***" + plate[-2:] if len(plate) > 4 else "***"


@dataclass
class Forgotten:
    """What one forget removed or cleaned, per place."""
    photos: int = 0
    violations: int = 0
    events: int = 0
    audit: int = 0
    event_lines: int = 0
    outbox: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        boxes = ", ".join(f"{n} from {name}" for name, n in self.outbox.items() if n) or "none"
        return (f"{self.photos} photo record(s) deleted, {self.violations} violation(s) deleted, plate taken out of "
                f"{self.events} bay event(s), {self.audit} audit entr(ies) and {self.event_lines} events.jsonl "
                f"line(s); undelivered messages deleted: {boxes}")


def forget_plate(data_dir: Path, plate: str, clock: Clock, user: str, outboxes: list[Path]) -> Forgotten:
    """Delete ``plate`` (normalised) from ``data_dir``; audit it as ``user``. The caller holds the data folder."""
    out = Forgotten()
    db_path = data_dir / "evidence" / "evidence.db"
    plates = {plate}
    if db_path.is_file():
        plates |= _forget_in_index(db_path, plate, clock, user, out)
    for name in EVENTS_FILES:
        out.event_lines += _scrub_lines(data_dir / name, sorted(plates, key=len, reverse=True))
    for box in outboxes:
        if box.is_file():
            out.outbox[str(box.relative_to(data_dir)) if box.is_relative_to(data_dir) else str(box)] = \
                _delete_messages(box, plates)
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


def _forget_in_index(db_path: Path, plate: str, clock: Clock, user: str, out: Forgotten) -> set[str]:
    """The photos, violations, events and audit of ``evidence.db``; returns every plate text the visits were read as
    (a partial read ``粤BD1234?`` of the same visit too)."""
    db = sqlite3.connect(db_path, isolation_level=None, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA secure_delete=ON")  # the rows' bytes overwritten, not left in free pages
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        db.execute("BEGIN IMMEDIATE")
        visits: set[str] = set()
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
                    if rel:
                        (root / rel).unlink(missing_ok=True)
            db.executemany("DELETE FROM evidence WHERE id=?", [(r["id"],) for r in rows])
            out.photos = len(rows)
        if "violations" in tables:
            ids = [(r[0],) for r in db.execute(f"SELECT id FROM violations WHERE plate=? OR visit_id IN ({marks})",
                                               (plate, *visits))]
            if "decisions" in tables:
                db.executemany("DELETE FROM decisions WHERE violation_id=?", ids)
            db.executemany("DELETE FROM violations WHERE id=?", ids)
            out.violations = len(ids)
        if "events" in tables:
            like = " OR ".join("instr(data, ?) > 0" for _ in longest)
            rows = db.execute(f"SELECT event_id, data FROM events WHERE visit_id IN ({marks}) OR {like}",
                              (*visits, *longest)).fetchall()
            changed = []
            for r in rows:
                try:
                    data = json.loads(r["data"]) if r["data"] else None
                except ValueError:
                    data = None
                if isinstance(data, dict):
                    new = json.dumps(without_plates(data, longest), ensure_ascii=False)
                    if new != r["data"]:
                        changed.append((new, r["event_id"]))
            db.executemany("UPDATE events SET data=? WHERE event_id=?", changed)
            out.events = len(changed)
        if "audit" in tables:
            rows = db.execute("SELECT id, target, detail FROM audit").fetchall()
            changed_audit = []
            whole = plate_pattern(longest)
            assert whole is not None  # ``plates`` holds ``plate``
            for r in rows:
                target, detail = whole.sub("***", r["target"] or ""), whole.sub("***", r["detail"] or "")
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
    return plates


def _scrub_lines(path: Path, plates: list[str]) -> int:
    """Lines of a JSON-lines file that name one of ``plates``, with the plate taken out; the file replaced whole."""
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    whole = plate_pattern(plates)
    n = 0
    for i, line in enumerate(lines):
        if whole is None or not whole.search(line):
            continue
        try:
            obj: Any = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            lines[i] = json.dumps(without_plates(obj, plates), ensure_ascii=False)
        else:
            lines[i] = whole.sub("***", line)
        n += 1
    if n:
        write_durably(path, "".join(x + "\n" for x in lines).encode("utf-8"))
    return n


def _delete_messages(path: Path, plates: set[str]) -> int:
    """Undelivered messages (an outbox's ``outbox`` table) whose payload names one of ``plates``."""
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='outbox'").fetchone() is None:
            return 0
        db.execute("PRAGMA secure_delete=ON")
        like = " OR ".join("instr(payload, ?) > 0" for _ in plates)
        whole = plate_pattern(plates)
        doomed = [(seq,) for seq, payload in db.execute(f"SELECT seq, payload FROM outbox WHERE {like}",
                                                        tuple(p.encode() for p in plates))
                  if whole is not None and whole.search(bytes(payload).decode("utf-8", "replace"))]
        db.executemany("DELETE FROM outbox WHERE seq=?", doomed)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(doomed)
    finally:
        db.close()
