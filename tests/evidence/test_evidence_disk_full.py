"""Evidence on a really small disk (a 3 MB tmpfs): photos never eat the outbox's reserve.
Oldest first (plain before violations) goes to make room; when that is not enough the new
photo is skipped, counted, and the agent says so once (storage_low / storage_restored)."""

from __future__ import annotations

import os
import shutil

import pytest

from edge_agent.evidence.store import INDEX_SLACK, EvidenceSkipped, EvidenceStore
from tests.evidence.frameless import frameless_agent
from tests.tmpfs import failing_disk, fill, tiny_disk  # noqa: F401  (fixtures)

RESERVE = 1_000_000
PHOTO = os.urandom(100_000)  # incompressible, like a JPEG


def test_oldest_plain_evidence_is_pruned_to_keep_the_reserve(tiny_disk, clock):  # noqa: F811
    disk = tiny_disk(3)
    s = EvidenceStore(disk, clock, min_free_bytes=RESERVE)
    ids = []
    for i in range(40):  # 4 MB of photos into a 3 MB disk
        ids.append(s.save("A", f"v{i}", "vehicle_identified", PHOTO, None))
        clock.advance(60)
        assert shutil.disk_usage(disk).free >= RESERVE - INDEX_SLACK  # the reserve holds after every save
    assert s.space.low and s.space.pruned > 0 and s.space.skipped == 0
    alive = [i for i in ids if s.get(i) is not None]
    assert alive == ids[-len(alive):] and len(alive) >= 10  # the oldest went, the newest stayed
    assert all(s.image_path(i).is_file() for i in alive)
    assert not [p for p in disk.glob("*/*.jpg") if p.name[:36] not in alive]  # no orphan files


def test_violation_photos_outlive_plain_ones_and_plain_ones_are_skipped(tiny_disk, clock):  # noqa: F811
    disk = tiny_disk(3)
    s = EvidenceStore(disk, clock, min_free_bytes=RESERVE)
    plain = s.save("A", "v0", "vehicle_identified", PHOTO, None)
    violations = []
    for i in range(25):
        violations.append(s.save("B", f"w{i}", "violation_started", PHOTO, None))
        clock.advance(60)
    assert s.get(plain) is None  # the plain one went first
    kept = [v for v in violations if s.get(v) is not None]
    assert kept == violations[-len(kept):]  # then the oldest violations, for newer violations
    with pytest.raises(EvidenceSkipped):  # a plain photo never pushes out a violation photo
        s.save("A", "v1", "vehicle_identified", PHOTO, None)
    assert s.space.skipped == 1 and [v for v in violations if s.get(v) is not None] == kept


def test_a_write_that_hits_a_full_disk_leaves_nothing_behind(tiny_disk, clock):  # noqa: F811
    disk = tiny_disk(3)
    s = EvidenceStore(disk, clock)  # no reserve configured: the disk itself says no
    fill(disk, leave_bytes=50_000)
    with pytest.raises(EvidenceSkipped):
        s.save("A", "v", "vehicle_identified", PHOTO, PHOTO[:1000])
    assert not list(disk.glob("*/*.jpg")) and s.space.skipped == 1


def test_agent_announces_low_storage_once_and_its_end(tiny_disk, clock):  # noqa: F811
    disk = tiny_disk(3)
    agent = frameless_agent(str(disk), clock, evidence={"min_free_mb": 1.0})
    events = []
    agent.bus.subscribe(events.append)
    for i in range(30):
        agent.evidence.save("A", f"v{i}", "vehicle_identified", PHOTO, None)
        agent.step()
    low = [e for e in events if e.type == "storage_low"]
    assert len(low) == 1 and low[0].data["reserve_mb"] == 1.0 and low[0].data["evidence_pruned"] >= 1
    assert agent.health_figures().extra["evidence_pruned"] >= 1
    for p in disk.rglob("*.jpg"):  # an operator clears space
        p.unlink()
    agent.evidence.save("A", "v", "vehicle_identified", PHOTO, None)
    agent.step()
    assert [e.type for e in events if e.type.startswith("storage_")] == ["storage_low", "storage_restored"]


def test_reserve_must_be_a_finite_non_negative_number():
    from edge_agent.config.load import ConfigError
    from edge_agent.sim.scenario import scene_config

    for bad in (float("nan"), float("inf"), -1):
        with pytest.raises(ConfigError, match="evidence.min_free_mb"):
            scene_config("/tmp/x", evidence={"min_free_mb": bad})


def test_a_card_kept_full_by_evidence_logs_pruning_once_not_at_every_save(tiny_disk, clock, caplog):  # noqa: F811
    disk = tiny_disk(3)
    s = EvidenceStore(disk, clock, min_free_bytes=RESERVE)
    with caplog.at_level("WARNING", logger="edge_agent.evidence.store"):
        for i in range(60):  # 6 MB into 3 MB: from about the 15th on, every save prunes
            s.save("A", f"v{i}", "vehicle_identified", PHOTO, None)
            clock.advance(60)
    said = [r for r in caplog.records if "pruned the oldest evidence" in r.getMessage()]
    assert s.space.pruned > 30 and len(said) == 1  # was one warning per save


def test_an_index_row_the_full_disk_refuses_is_a_skipped_photo_with_nothing_left_behind(tiny_disk, clock):  # noqa: F811
    """The photo fitted but the index's row did not (SQLite: database or disk is full): a traceback at every
    save on the frame loop, and photo files no row names, holding space until the hourly sweep."""
    disk = tiny_disk(3)
    s = EvidenceStore(disk, clock)  # no reserve configured: the disk itself says no
    for i in range(3):
        s.save("A", f"v{i}", "vehicle_identified", b"\xff\xd8" + b"x" * 1000, None, meta={"i": i})
    s._fold_wal()
    fill(disk, leave_bytes=4096)  # one page: room for a small photo's file, none for the index to grow
    small = b"\xff\xd8" + b"y" * 100
    outcomes = []
    for i in range(20):  # photos of ~100 bytes into the last partly used pages, until the index has no room
        try:
            s.save("A", f"w{i}", "vehicle_identified", small, None, meta={"pad": "p" * 3000})
            outcomes.append("saved")
        except EvidenceSkipped:
            outcomes.append("skipped")
    assert "skipped" in outcomes
    named = {r[0] for r in s._db.execute("SELECT id FROM evidence")}
    assert {p.name[:36] for p in disk.glob("*/*.jpg")} == named  # no photo without its row
    assert not list(disk.glob("*/*.tmp"))


def test_a_card_turned_read_only_skips_photos_like_a_full_one(failing_disk, clock, caplog):  # noqa: F811
    """The kernel turned the card read-only (an SD card's I/O error): a photo's file then fails with EROFS, not
    ENOSPC. Before, that OSError escaped ``save``: a ``snapshot`` command answered ``internal_error`` with a
    traceback in the log (measured: 20 in 22 s of a real ``run`` sent one snapshot a second), a violation's photo
    logged one on the frame loop, and none was counted in the heartbeat's ``evidence_skipped``."""
    folder, fail = failing_disk
    s = EvidenceStore(folder, clock)
    kept = s.save("A", "v0", "vehicle_identified", PHOTO, None)
    fail()
    with caplog.at_level("ERROR", logger="edge_agent.evidence.store"):
        for i in range(3):
            with pytest.raises(EvidenceSkipped, match="Read-only file system"):
                s.save("A", f"v{i + 1}", "violation_started", PHOTO, PHOTO[:1000])
    assert s.space.skipped == 3
    said = [r for r in caplog.records if "read-only or failing" in r.getMessage()]
    assert len(said) == 1 and not said[0].exc_info  # one line, no traceback
    assert s.get(kept) is not None and s.image_path(kept).is_file()
