"""A damaged evidence index (``evidence/evidence.db``) never stops the agent: it is moved aside,
a fresh one started, the photos on disk indexed again, and the backend told."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml

from edge_agent.evidence.store import REINDEXED, EvidenceStore
from edge_agent.sim.synthetic import BAYS, Scene, render
from tests.damage import damage_pages

JPEG = b"\xff\xd8" + b"x" * 998


def _store_with_photos(root: Path, clock) -> tuple[str, str]:  # noqa: ANN001
    s = EvidenceStore(root, clock)
    a = s.save("A", "v1", "violation_started", JPEG, JPEG[:300], "京A12345")
    clock.advance(60)
    b = s.save("B", "v2", "vehicle_identified", JPEG, None)
    s.close()
    return a, b


def test_garbage_index_is_moved_aside_and_photos_reindexed(tmp_path, clock):
    a, b = _store_with_photos(tmp_path, clock)
    (tmp_path / "evidence.db").write_bytes(b"this is not an sqlite file" * 100)
    s = EvidenceStore(tmp_path, clock)
    assert s.recovered is not None and s.recovered["reindexed"] == 2
    aside = Path(s.recovered["moved_to"])
    assert aside.read_bytes().startswith(b"this is not an sqlite file")  # kept for inspection
    ra, rb = s.get(a), s.get(b)
    assert ra.kind == rb.kind == REINDEXED and ra.bytes == 1300 and ra.ts.endswith("+00:00")
    assert s.image_path(a).read_bytes() == JPEG and s.image_path(a, "crop").stat().st_size == 300
    assert s.image_path(b, "crop") is None
    assert s.get(s.save("A", None, "snapshot", JPEG, None)) is not None  # the new index works
    s.close()
    assert EvidenceStore(tmp_path, clock).recovered is None  # and stays healthy on the next start


def test_damaged_pages_inside_a_valid_file_are_caught_at_open(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock)
    for i in range(300):
        s.save("A", f"v{i}", "vehicle_identified", None, None, meta={"pad": "x" * 200})
    s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    db = tmp_path / "evidence.db"
    raw = bytearray(db.read_bytes())
    page = 4096
    raw[3 * page:6 * page] = b"\x07" * (3 * page)  # scribble over three pages, header intact
    db.write_bytes(bytes(raw))
    s = EvidenceStore(tmp_path, clock)
    assert s.recovered is not None
    assert s.save("A", None, "snapshot", JPEG, None)


def test_run_starts_with_a_corrupt_index_and_announces_it(tmp_path, models_dir):
    """The real CLI: before the fix every start ended in a traceback (exit 1, a systemd restart loop)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), render(Scene()))
    evidence = tmp_path / "data" / "evidence"
    evidence.mkdir(parents=True)
    (evidence / "evidence.db").write_bytes(b"\x00garbage" * 512)
    cfg = {"site": {"site_id": "s1", "device_id": "cam1"},
           "camera": {"source": str(frames), "fps": 20, "width": 960, "height": 540},
           "bays": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in BAYS.items()],
           "perception": {"models_dir": str(models_dir)}, "data_dir": str(tmp_path / "data")}
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "evidence index" in proc.stderr and "unreadable" in proc.stderr  # the log says it
    events = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    [reset] = [e for e in events if e.get("type") == "evidence_index_reset"]
    assert reset["data"]["moved_to"].startswith(str(evidence / "evidence.db.corrupt-"))


def test_a_full_disk_at_open_keeps_the_index(tmp_path, clock, monkeypatch):
    """SQLite says "disk I/O error" when the -shm cannot grow: no damage, so nothing is moved aside."""
    a, _ = _store_with_photos(tmp_path, clock)
    err = sqlite3.OperationalError("disk I/O error")
    err.sqlite_errorcode = 4874  # SQLITE_IOERR_SHMSIZE
    real = EvidenceStore._connect
    monkeypatch.setattr(EvidenceStore, "_connect", lambda self: (_ for _ in ()).throw(err))
    with pytest.raises(sqlite3.OperationalError):
        EvidenceStore(tmp_path, clock)
    assert not list(tmp_path.glob("evidence.db.corrupt-*"))
    monkeypatch.setattr(EvidenceStore, "_connect", real)
    s = EvidenceStore(tmp_path, clock)  # room again: the same index, its rows intact
    assert s.recovered is None and s.get(a).kind != REINDEXED
    s.close()


def test_a_damaged_photo_index_keeps_the_reviewers_decisions_and_the_history(tmp_path, clock):
    """The violation log and the run ledger live in the same file: one bad page of the photos' index cost
    every decision, the audit log and the bay history (a fresh file held only re-indexed photos)."""
    from edge_agent.events.types import Event, EventType
    from edge_agent.evidence.violations import ViolationFilter, ViolationLog

    s = EvidenceStore(tmp_path, clock)
    for i in range(300):  # the photos' index fills the first pages of the file
        s.save("A", f"v{i}", "vehicle_identified", None, None, meta={"pad": "x" * 200})
    photo = s.save("B", "fuel", "violation_started", JPEG, None, "京A12345")
    vlog = ViolationLog(s.db_path, clock)
    vlog.record(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="fuel"))
    vlog.record(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="B", visit_id="fuel", evidence_id=photo,
                           data={"plate": "京A12345", "reason": "fuel_vehicle"}))
    (v,) = vlog.query(ViolationFilter()).items
    vlog.decide(v.id, "dismissed", "alice", reason="charging card shown")
    vlog.audit("alice", "violation_dismissed", f"violation:{v.id}")
    vlog.close()
    s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    db = tmp_path / "evidence.db"
    raw = bytearray(db.read_bytes())
    page = 4096
    raw[3 * page:6 * page] = b"\x07" * (3 * page)  # three pages of the photos' index, header intact
    db.write_bytes(bytes(raw))

    s = EvidenceStore(tmp_path, clock)
    assert s.recovered is not None
    vlog = ViolationLog(s.db_path, clock)
    (kept,) = vlog.query(ViolationFilter()).items
    assert (kept.id, kept.plate, kept.decision, kept.decision_reason) == (v.id, "京A12345", "dismissed",
                                                                          "charging card shown")
    assert [d["user"] for d in vlog.decisions(v.id)] == ["alice"]
    assert s.recovered["salvaged"]["violations"] == 1 and s.recovered["salvaged"]["decisions"] == 1
    assert [a["action"] for a in vlog.audit_entries()] == ["violation_dismissed"]
    assert [e.type for e in vlog.timeline("fuel")] == ["vehicle_arrived", "violation_started"]
    assert s.image_path(photo).read_bytes() == JPEG  # its damaged row re-indexed from the file
    vlog.record(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="next", data={"plate": ""}))
    assert vlog.query(ViolationFilter()).items[0].id == v.id + 1  # ids go on after the kept ones
    vlog.close()
    s.close()


def test_a_damaged_page_in_the_middle_of_the_bay_history_costs_its_own_rows_not_those_behind_it(tmp_path, clock):
    """One bad page in the middle of the bay history (the violation log's ``events``, in the photos' index file, with
    no copy on disk to re-index from as the photos have): the salvage read the table up to the damage: 84 of 200 events
    lost (probe chaos38). It now steps over the page: only that page's rows are lost (39)."""
    from edge_agent.events.types import Event, EventType
    from edge_agent.evidence.violations import ViolationLog

    path = tmp_path / "evidence.db"
    EvidenceStore(tmp_path, clock, max_age_days=30).close()
    log = ViolationLog(path, clock)
    for i in range(100):
        log.record(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id=f"v{i}", data={}))
        clock.advance(60)
        log.record(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id=f"v{i}", data={}))
        clock.advance(60)
    log.close()
    db = sqlite3.connect(path)
    try:
        before = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        db.close()
    assert before == 200 and damage_pages(path, "events") >= 6
    EvidenceStore(tmp_path, clock, max_age_days=30).close()
    db = sqlite3.connect(path)
    try:
        after = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        db.close()
    assert after >= 150, after  # one page's rows (about 40 here: 161 kept), not every row behind it (116 before)


KILLED_IN_SALVAGE = """
import os, signal, sys
from pathlib import Path
from edge_agent.clock import FakeClock
from edge_agent.evidence import store

real = store.rows_past_damage
def dying(src, table, *args, **kw):
    for n, row in enumerate(real(src, table, *args, **kw)):
        if table == "evidence" and n == 1:  # its second row
            os.kill(os.getpid(), signal.SIGKILL)  # a power cut in the middle of the copy
        yield row
real_replace = Path.replace
def moved(self, target):
    done = real_replace(self, target)
    if self.name == "evidence.db":
        os.kill(os.getpid(), signal.SIGKILL)  # a power cut once the damaged index is aside
    return done
if sys.argv[2] == "copy":
    store.rows_past_damage = dying
else:
    Path.replace = moved
store.EvidenceStore(Path(sys.argv[1]), FakeClock())
"""


@pytest.mark.parametrize("when", ["copy", "move"])
def test_a_kill_during_the_index_salvage_keeps_the_history_and_the_photos(tmp_path, clock, when):
    """The damaged index went aside and a fresh, empty one took its name before the copy; a kill during the copy
    (one lookup a row: seconds on a Pi) left that empty index, which the next start found healthy: the bay history and
    every photo's row stayed in the copy set aside, and the first retention pass's sweep then deleted every photo an
    hour old as a file no row names (probe review80). The fresh index is now built beside it and takes the name only
    once complete."""
    a, b = _store_with_photos(tmp_path, clock)
    path = tmp_path / "evidence.db"
    if when == "copy":  # an index's page damaged: quick_check fails, the table's rows still read
        damage_pages(path, "evidence_kind", 0, leaves=False)
    else:
        path.write_bytes(b"this is not an sqlite file" * 100)
    photos = sorted(p.name for p in tmp_path.glob("*/*.jpg"))
    child = subprocess.run([sys.executable, "-c", KILLED_IN_SALVAGE, str(tmp_path), when], capture_output=True,
                           timeout=60)
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    s = EvidenceStore(tmp_path, clock)
    try:
        clock.advance(7200)
        s.sweep_orphans(min_age_s=0)
        assert sorted(p.name for p in tmp_path.glob("*/*.jpg")) == photos and len(photos) == 3
        assert s.get(a) is not None and s.get(b) is not None
        if when == "copy":  # the rows themselves, with their plate, not re-indexed ones
            assert s.get(a).plate == "京A12345"
    finally:
        s.close()


def test_a_half_built_index_left_beside_a_healthy_one_is_deleted(tmp_path, clock):
    """A kill during a recovery leaves the half-built fresh index (``evidence.db.salvage``), plates in it; when the
    next start finds the index readable after all, nothing else would ever delete it."""
    a, _ = _store_with_photos(tmp_path, clock)
    (tmp_path / "evidence.db.salvage").write_bytes(b"half a copy, plates in it")
    s = EvidenceStore(tmp_path, clock)
    try:
        assert s.get(a) is not None and s.recovered is None
    finally:
        s.close()
    assert not (tmp_path / "evidence.db.salvage").exists()
