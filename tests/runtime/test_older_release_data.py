"""A device upgraded in place: this version on the data folder 0.1.0 (the first landing) left.

The files are made here as 0.1.0 made them — its SQL schemas verbatim (``git show 6fd49a5:…``) and rows and
payloads in its form (taken from a data folder that release really wrote) — so a schema change without a
migration fails here: ``CREATE TABLE IF NOT EXISTS`` keeps an old table as it is, and the first insert into a
new column would then fail on every upgraded device. Checked: the events still waiting in its outbox are
delivered once each to a real mosquitto, and its evidence, decisions and users still serve the review page.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import yaml

from edge_agent.events.schemas import validator
from tests.events.conftest import broker  # noqa: F401  (fixture)
from tests.events.helpers import BAYS, ChildAgent, Subscriber, wait_until, write_config
from tests.web import scenes

# edge_agent/events/outbox.py at 6fd49a5
OUTBOX_0_1_0 = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    protected INTEGER NOT NULL,
    key TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unprotected ON outbox(protected, seq);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_key ON outbox(key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# edge_agent/evidence/store.py and edge_agent/evidence/violations.py at 6fd49a5
EVIDENCE_0_1_0 = """
CREATE TABLE IF NOT EXISTS evidence (
    id TEXT PRIMARY KEY,
    bay_id TEXT,
    visit_id TEXT,
    kind TEXT NOT NULL,
    ts TEXT NOT NULL,
    epoch REAL NOT NULL,
    plate TEXT,
    protected INTEGER NOT NULL DEFAULT 0,
    frame_file TEXT,
    crop_file TEXT,
    bytes INTEGER NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS evidence_epoch ON evidence(protected, epoch);
CREATE INDEX IF NOT EXISTS evidence_visit ON evidence(visit_id);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, type TEXT NOT NULL, ts TEXT NOT NULL, ts_epoch REAL NOT NULL,
    bay_id TEXT, visit_id TEXT, evidence_id TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_visit ON events(visit_id, ts_epoch);
CREATE INDEX IF NOT EXISTS events_bay ON events(bay_id, ts_epoch);
CREATE TABLE IF NOT EXISTS violations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE NOT NULL,
    bay_id TEXT NOT NULL, visit_id TEXT, plate TEXT NOT NULL DEFAULT '', colour TEXT, nev INTEGER,
    nev_reason TEXT, reason TEXT, type_code TEXT, confidence REAL,
    started_at TEXT NOT NULL, started_epoch REAL NOT NULL, ended_at TEXT, ended_epoch REAL,
    evidence_id TEXT, end_evidence_id TEXT,
    decision TEXT NOT NULL DEFAULT 'open', decision_reason TEXT, decided_by TEXT, decided_at TEXT);
CREATE INDEX IF NOT EXISTS violations_started ON violations(started_epoch, id);
CREATE INDEX IF NOT EXISTS violations_bay ON violations(bay_id, started_epoch, id);
CREATE INDEX IF NOT EXISTS violations_decision ON violations(decision, started_epoch, id);
CREATE INDEX IF NOT EXISTS violations_plate ON violations(plate);
CREATE INDEX IF NOT EXISTS violations_visit ON violations(visit_id);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, violation_id INTEGER NOT NULL, decision TEXT NOT NULL,
    reason TEXT, user TEXT NOT NULL, ts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT, detail TEXT, ip TEXT);
"""
EVENTS = "edge/s1/dev1/events"
CST = timezone(timedelta(hours=8))


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def old_event(etype: str, bay: str, when: datetime, data: dict, visit: str | None = None) -> dict:
    """An event payload as 0.1.0 published it (no ``kind``, compact JSON)."""
    return {"event_id": str(uuid.uuid4()), "type": etype, "ts": _iso(when), "bay_id": bay, "visit_id": visit,
            "evidence_id": None, "data": data}


def test_events_a_0_1_0_outbox_still_holds_are_delivered_once_each(broker, tmp_path):  # noqa: F811
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    t0 = datetime.now(CST) - timedelta(days=2)
    pending = []
    for i in range(40):
        bay = BAYS[i % len(BAYS)]
        visit = str(uuid.uuid4())
        pending.append(old_event("vehicle_arrived", bay, t0 + timedelta(minutes=i), {"parked_at_start": False}, visit))
    pending.append(old_event("lock_moved", BAYS[0], t0, {"lock_id": "lock-1", "state": "up",
                                                         "reason": "position read from limit switches at start-up"}))
    for p in pending:  # what a backend gets must be valid under today's contract, not only delivered
        errors = [e.message for e in validator("event.json").iter_errors(p)]
        assert not errors, (p["type"], errors)
    db = sqlite3.connect(data_dir / "mqtt-outbox.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(OUTBOX_0_1_0)
    db.executemany("INSERT INTO outbox (topic, payload, qos, retain, protected, key) VALUES (?,?,1,0,?,NULL)",
                   [(EVENTS, json.dumps(p, ensure_ascii=False, separators=(",", ":")).encode(),
                     int(p["type"] == "lock_moved")) for p in pending])
    db.commit()
    db.close()

    cfg = write_config(tmp_path / "agent.yaml", broker.url(), data_dir)
    backend = Subscriber(broker.port, EVENTS, client_id="backend-1", persistent=True).start()
    agent = ChildAgent(cfg)
    want = {p["event_id"] for p in pending}
    try:
        agent.wait_line("started")
        wait_until(lambda: want <= {m.json()["event_id"] for m in backend.on(EVENTS)}, 60, "the 0.1.0 events")

        def left() -> int:
            with sqlite3.connect(data_dir / "mqtt-outbox.sqlite") as c:
                return int(c.execute("SELECT COUNT(*) FROM outbox WHERE topic = ?", (EVENTS,)).fetchone()[0])

        wait_until(lambda: left() == 0, 30, "the outbox to empty")
    finally:
        agent.kill()
        backend.stop()
    got = Counter(m.json()["event_id"] for m in backend.on(EVENTS))
    assert {i: n for i, n in got.items() if i in want and n != 1} == {}
    by_id = {m.json()["event_id"]: m.json() for m in backend.on(EVENTS)}
    assert all(by_id[p["event_id"]] == p for p in pending)  # byte for byte what 0.1.0 stored


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_0_1_0_evidence_decisions_and_users_still_serve_the_review_page(tmp_path):
    from argon2 import PasswordHasher

    data_dir = tmp_path / "data"
    day = datetime.now(CST) - timedelta(days=3)
    folder = data_dir / "evidence" / day.strftime("%Y-%m-%d")
    folder.mkdir(parents=True)
    eid, visit, ev = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    frame = scenes.scene("京A12345")
    (folder / f"{eid}.jpg").write_bytes(frame)
    start, end = day, day + timedelta(seconds=14)
    meta = {"event_id": ev, "reason": "fuel_vehicle", "parked_s": 20.0, "plate": "京A12345", "colour": "blue"}
    db = sqlite3.connect(data_dir / "evidence" / "evidence.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(EVIDENCE_0_1_0)
    rel = f"{folder.name}/{eid}.jpg"
    db.execute("INSERT INTO evidence VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               (eid, "B", visit, "violation_started", _iso(start), start.timestamp(), "京A12345", 1, rel, None,
                len(frame), json.dumps(meta, ensure_ascii=False)))
    db.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)",
               (ev, "violation_started", _iso(start), start.timestamp(), "B", visit, eid,
                json.dumps({k: v for k, v in meta.items() if k != "event_id"}, ensure_ascii=False)))
    decided = _iso(datetime.now(timezone.utc) - timedelta(days=1))
    db.execute("INSERT INTO violations (event_id, bay_id, visit_id, plate, colour, nev, nev_reason, reason, type_code,"
               " confidence, started_at, started_epoch, ended_at, ended_epoch, evidence_id, decision,"
               " decision_reason, decided_by, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (ev, "B", visit, "京A12345", "blue", 0, "colour", "fuel_vehicle", "02", 1.0, _iso(start),
                start.timestamp(), _iso(end), end.timestamp(), eid, "dismissed", "charging cable was plugged in",
                "bob", decided))
    db.execute("INSERT INTO decisions (violation_id, decision, reason, user, ts) VALUES (1,?,?,?,?)",
               ("dismissed", "charging cable was plugged in", "bob", decided))
    db.commit()
    db.close()
    password = "bobs old password"
    # 0.1.0's users file: no role, argon2-cffi's default profile (64 MiB, 4 lanes)
    (tmp_path / "users.txt").write_text(f"bob:{PasswordHasher().hash(password)}\n", encoding="utf-8")
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "site": {"site_id": "s1", "device_id": "dev1"},
        "camera": {"source": "none"},
        "bays": [{"id": "B", "polygon": [[0, 0], [100, 0], [100, 100], [0, 100]]}],
        "occupancy": {"change_threshold": 25, "enter_fraction": 0.3, "exit_fraction": 0.12, "learn_rate": 0.05},
        "web": {"enabled": True, "port": port},
        "data_dir": str(data_dir),
    }, allow_unicode=True), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "review", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the review command prints its address once it serves
            if line.startswith("review page on"):
                break
        else:
            pytest.fail(f"review exited {proc.wait()}")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            r = c.post("/login", data={"username": "bob", "password": password, "csrf": tok})
            assert r.status_code == 303, r.text[:300]
            page = c.get("/violations/1")
            assert page.status_code == 200
            assert "charging cable was plugged in" in page.text and "京A12345" in page.text
            photo = c.get(f"/evidence/{eid}/frame.jpg")
            assert photo.status_code == 200 and photo.content == frame
            assert c.get("/violations.csv").text.count("dismissed") == 1
    finally:
        proc.terminate()
        proc.wait(10)
