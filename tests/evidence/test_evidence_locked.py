"""Photo rows on an index another program holds locked past the store's wait (a backup that writes, a ``sqlite3``
shell left in a transaction): held on disk and written once the lock goes, as the violation log's events are.
Before (probe photohold28), the row failed ("writing evidence … failed"), the photo stayed on disk without one, and
the hourly ``sweep_orphans`` deleted it: a 45 s lock during the demo lost its 3 photos, a violation's among them,
though their events named them. The lock is a second connection's ``BEGIN IMMEDIATE``; the store's 5 s wait is cut
to 20 ms (the point is what follows it)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.evidence import held_rows
from edge_agent.evidence.held_rows import HELD_PHOTOS_FILE
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.writer import PhotoWriter

JPEG = b"\xff\xd8" + b"x" * 2000 + b"\xff\xd9"
EVERY_FILE = -3600.0  # ``sweep_orphans``' age: every unindexed file counts as an hour old (no wait, no sleep)


@contextmanager
def locked(db: Path) -> Iterator[None]:
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def _store(root: Path, clock: FakeClock) -> EvidenceStore:
    store = EvidenceStore(root, clock)
    store._db.execute("PRAGMA busy_timeout=20")
    return store


def _files(root: Path) -> set[str]:
    return {p.name for p in root.glob("*/*.jpg")}


def test_a_photo_whose_row_a_lock_kept_out_is_held_never_swept_and_indexed_when_it_is_free(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    store = _store(tmp_path, clock)
    writer = PhotoWriter(store, thread=False)
    with locked(store.db_path), caplog.at_level(logging.WARNING):
        ident = store.save("A", "v1", "vehicle_identified", JPEG, JPEG, "粤B12345", {"event_id": "e1"})
        vio = store.save("A", "v1", "violation_started", JPEG, None, "粤B12345")
        writer.drain()
        assert writer.failed == 0 and writer.written == 2  # no "writing evidence … failed"
        assert store.get(ident) is None and store.holds(ident) and store.holds(vio)
        assert (tmp_path / HELD_PHOTOS_FILE).is_file()
        assert store.sweep_orphans(min_age_s=EVERY_FILE) == 0  # the hourly sweep an hour on: nothing of theirs
        assert _files(tmp_path) == {f"{ident}.jpg", f"{ident}_crop.jpg", f"{vio}.jpg"}
        assert store.write_held() == 2  # the minute's retry: still locked, a glance
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(said) == 1 and "locked" in said[0] and "held" in said[0], said  # once an episode, naming why
    assert store.write_held() == 0  # the lock gone
    rec = store.get(ident)
    assert rec is not None and rec.plate == "粤B12345" and rec.meta == {"event_id": "e1"} and rec.protected
    assert store.image_path(ident, "crop").is_file() and store.get(vio) is not None
    assert not (tmp_path / HELD_PHOTOS_FILE).exists() and not store.holds(ident)
    assert store.sweep_orphans(min_age_s=EVERY_FILE) == 0 and len(_files(tmp_path)) == 3
    store.close()


def test_the_next_photo_writes_the_held_rows_first(tmp_path: Path, clock: FakeClock) -> None:
    store = _store(tmp_path, clock)
    with locked(store.db_path):
        first = store.save("A", "v1", "vehicle_identified", JPEG, None)
    second = store.save("B", "v2", "vehicle_identified", JPEG, None)
    assert store.get(first) is not None and store.get(second) is not None and not store.held
    store.close()


def test_rows_held_through_a_kill_are_written_at_the_next_start(tmp_path: Path, clock: FakeClock) -> None:
    """A SIGKILL (or power cut) while the lock holds: the store is never closed; the file keeps the rows and the next
    start writes them (then the file goes)."""
    store = _store(tmp_path, clock)
    with locked(store.db_path):
        eid = store.save("A", "v1", "violation_started", JPEG, JPEG, "粤B12345")
        del store  # killed: nothing more runs
        assert len(_files(tmp_path)) == 2
    last = EvidenceStore(tmp_path, clock)  # the next start, the backup done
    rec = last.get(eid)
    assert rec is not None and rec.protected and rec.crop_file is not None and not last.held
    assert not (tmp_path / HELD_PHOTOS_FILE).exists()
    last.close()


def test_held_rows_are_bounded_the_oldest_plain_photo_goes_with_its_files(
        tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(held_rows, "HELD_PHOTOS_MAX", 2)
    store = _store(tmp_path, clock)
    with locked(store.db_path):
        vio = store.save("A", "v1", "violation_started", JPEG, None)
        plain = store.save("B", "v2", "vehicle_identified", JPEG, None)
        newest = store.save("C", "v3", "vehicle_identified", JPEG, None)
        assert [store.holds(e) for e in (vio, plain, newest)] == [True, False, True]
        assert _files(tmp_path) == {f"{vio}.jpg", f"{newest}.jpg"} and store.space.skipped == 1
    store.close()


def test_a_held_file_someone_else_wrote_names_no_photo_outside_the_store(tmp_path: Path, clock: FakeClock) -> None:
    """The file is the agent user's: a row naming a file outside the day folders (there, on disk), or one whose photo
    is gone, or a line that is no row, is skipped; the good row beside them is written."""
    root = tmp_path / "evidence"
    store = _store(root, clock)
    with locked(store.db_path):
        good = store.save("A", "v1", "vehicle_identified", JPEG, None)
        del store  # killed
    outside, gone = "3f0c1a52-9a43-4c2e-8f0e-0d6b1b7f2a11", "0b0c1a52-9a43-4c2e-8f0e-0d6b1b7f2a11"
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / f"{outside}.jpg").write_bytes(JPEG)
    row = {"bay_id": None, "visit_id": None, "kind": "x", "ts": "t", "epoch": 0, "plate": None, "protected": 0,
           "crop_file": None, "bytes": 1, "meta": "{}"}
    with (root / HELD_PHOTOS_FILE).open("a") as fh:
        fh.write(json.dumps({**row, "id": outside, "frame_file": f"../x/{outside}.jpg"}) + "\n")
        fh.write(json.dumps({**row, "id": gone, "frame_file": f"2026-01-01/{gone}.jpg"}) + "\n")
        fh.write("not json\n")
    again = EvidenceStore(root, clock)
    assert [r[0] for r in again._db.execute("SELECT id FROM evidence")] == [good] and not again.held
    again.close()


def test_the_agents_minute_writes_the_held_rows_without_a_new_photo(tmp_path: Path, clock: FakeClock) -> None:
    """``run``: the writer thread meets the lock and holds the row; no photo follows (a quiet site), so the agent's
    minute hook writes it once the lock is gone — before, it waited for the next photo or the next start."""
    from edge_agent.runtime.assemble import assemble
    from edge_agent.sim.scenario import scene_config

    parts = assemble(scene_config(str(tmp_path), mqtt={"enabled": False}, web={"enabled": False}), clock=clock,
                     review=False, photo_thread=True)
    agent = parts.agent
    agent.evidence._db.execute("PRAGMA busy_timeout=20")
    try:
        with locked(agent.evidence.db_path):
            eid = agent.evidence.save("A", "v1", "violation_started", JPEG, None)
            assert agent.drain_photos(timeout=10) and agent.evidence.holds(eid)
            agent._maybe_minute()
            assert agent.evidence.holds(eid)  # still locked: a glance, still held
        clock.advance(61)
        agent._maybe_minute()
        assert agent.evidence.get(eid) is not None and not agent.evidence.holds(eid)
    finally:
        parts.close()
