"""Evidence store: files + SQLite (WAL) index, retention by age and size, violations kept longest."""

from __future__ import annotations

import sqlite3

import cv2
import numpy as np

from edge_agent.evidence.annotate import annotate, encode_jpeg
from edge_agent.evidence.store import EvidenceStore
from edge_agent.sim.scenario import FUEL, Scene
from edge_agent.sim.synthetic import BAY_B, plate_corners, render

JPEG = b"\xff\xd8" + b"x" * 998  # 1000 bytes


def test_save_get_paths(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock)
    eid = s.save("A", "v1", "vehicle_identified", JPEG, JPEG[:500], "京A12345", {"nev": False})
    rec = s.get(eid)
    assert rec.bay_id == "A" and rec.visit_id == "v1" and rec.plate == "京A12345" and rec.bytes == 1500
    assert rec.meta == {"nev": False} and rec.ts.startswith("2026-01-01T08:00:00") and not rec.protected
    assert s.image_path(eid).read_bytes() == JPEG and s.image_path(eid, "crop").stat().st_size == 500
    assert s.get("nope") is None and s.image_path("nope") is None
    assert sqlite3.connect(tmp_path / "evidence.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_retention_by_age(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock, max_age_days=7)
    old = s.save("A", "v1", "violation_started", JPEG, None)
    clock.advance(6 * 86400)
    new = s.save("A", "v2", "vehicle_identified", JPEG, None)
    clock.advance(2 * 86400)
    assert s.enforce_retention() == 1
    assert s.get(old) is None and s.get(new) is not None
    assert not list(tmp_path.glob(f"*/{old}*"))


def test_retention_by_size_drops_plain_evidence_before_violations(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock, max_bytes=3500)
    ids = []
    for kind in ("violation_started", "vehicle_identified", "vehicle_identified", "violation_started",
                 "vehicle_identified"):
        ids.append(s.save("A", None, kind, JPEG, None))
        clock.advance(60)
    assert s.total_bytes() == 5000
    assert s.enforce_retention() == 2
    kept = [i for i in ids if s.get(i)]
    assert kept == [ids[0], ids[3], ids[4]]  # the two oldest identifications went, violations stayed
    s.max_bytes = 1500
    s.enforce_retention()
    assert [i for i in ids if s.get(i)] == [ids[3]]  # then the oldest violation before the newest


def test_annotated_frame_is_a_jpeg_with_the_drawings(tmp_path):
    frame = render(Scene(cars=(FUEL,)))
    img = annotate(frame, BAY_B, plate_corners(FUEL), ["B  京A12345  blue  not NEV", "violation_started"],
                   "violation")
    assert img.shape == frame.shape and not np.array_equal(img, frame)
    x, y = (int(v) for v in BAY_B[0])
    assert tuple(img[y, x + 40]) != tuple(frame[y, x + 40])  # polygon drawn
    data = encode_jpeg(img)
    assert data[:2] == b"\xff\xd8" and cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
