"""Evidence photos written off the frame loop (``evidence/writer.py``, probe evidence20).

On a worn SD card (~1 s a sync) a photo's four or five syncs held the frame loop at every identification and
violation. The id and time are fixed on the loop, the event is published at once, the writer writes the files and then
the row, in order. The writer is joined with ``drain`` (on the caller's thread without a thread: deterministic)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.writer import PhotoWriter

JPEG = b"\xff\xd8" + b"x" * 2000 + b"\xff\xd9"


def _files(store: EvidenceStore) -> set[str]:
    return {p.name for p in store.root.glob("*/*.jpg")}


def test_a_queued_photo_has_its_id_at_once_and_its_row_only_with_its_files(tmp_path: Path, clock: FakeClock) -> None:
    store = EvidenceStore(tmp_path, clock)
    writer = PhotoWriter(store, thread=False)
    t = clock.now()
    eid = store.save("A", "v1", "vehicle_identified", JPEG, JPEG, "粤B12345", {"event_id": "e1"})
    clock.advance(30)  # written later: the record keeps the event's time
    assert store.get(eid) is None and not _files(store) and writer.pending == 1  # nothing names it yet
    assert writer.drain()
    rec = store.get(eid)
    assert rec is not None and rec.plate == "粤B12345" and rec.meta == {"event_id": "e1"} and rec.ts.startswith(
        t.strftime("%Y-%m-%dT%H:%M:%S"))
    assert store.image_path(eid).is_file() and store.image_path(eid, "crop").is_file() and writer.pending == 0
    store.close()


def test_photos_are_written_in_order_and_a_violation_protects_its_visits_identification(tmp_path: Path,
                                                                                         clock: FakeClock) -> None:
    store = EvidenceStore(tmp_path, clock)
    writer = PhotoWriter(store, thread=False)
    ident = store.save("B", "v2", "vehicle_identified", JPEG, None)
    vio = store.save("B", "v2", "violation_started", JPEG, None)
    writer.drain()
    assert [r.evidence_id for r in store.for_visit("v2")] == [ident, vio]
    assert store.get(ident).protected and store.get(vio).protected  # type: ignore[union-attr]
    store.close()


def test_a_snapshot_is_written_at_once(tmp_path: Path, clock: FakeClock) -> None:
    """The page shows the picture it asked for: never queued behind the loop's photos."""
    store = EvidenceStore(tmp_path, clock)
    PhotoWriter(store, thread=False)
    eid = store.save("A", None, "snapshot", JPEG, None)
    assert store.image_path(eid).is_file()  # type: ignore[union-attr]
    store.close()


def test_a_full_queue_drops_the_oldest_photo_counted_never_waits(tmp_path: Path, clock: FakeClock,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """The card stalled for minutes: the loop keeps queueing, memory stays bounded, the oldest photo goes."""
    store = EvidenceStore(tmp_path, clock)
    writer = PhotoWriter(store, thread=False, max_pending=3)
    ids = [store.save("A", f"v{i}", "vehicle_identified", JPEG, None) for i in range(5)]
    assert writer.pending == 3 and writer.dropped == 2 and store.space.skipped == 2
    assert "dropped" in caplog.text
    writer.drain()
    assert [store.get(i) is not None for i in ids] == [False, False, True, True, True]
    store.close()


def test_a_process_killed_with_photos_queued_loses_those_only_and_the_index_stays_whole(tmp_path: Path,
                                                                                         clock: FakeClock) -> None:
    store = EvidenceStore(tmp_path, clock)
    writer = PhotoWriter(store, thread=False)
    kept = store.save("A", "v1", "vehicle_identified", JPEG, JPEG)
    writer.drain()
    lost = store.save("A", "v1", "violation_started", JPEG, JPEG)
    store.close()  # the process ends here, the violation's photo still queued
    again = EvidenceStore(tmp_path, clock)
    assert again.get(lost) is None and again.get(kept) is not None
    for eid in (kept,):  # every row names files on disk
        assert again.image_path(eid).is_file() and again.image_path(eid, "crop").is_file()  # type: ignore[union-attr]
    assert not [p for p in tmp_path.glob("*/*") if lost in p.name]
    again.close()


def test_the_writer_thread_writes_off_the_callers_thread_and_drain_joins_it(tmp_path: Path, clock: FakeClock,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store = EvidenceStore(tmp_path, clock)
    gate, threads = threading.Event(), set()
    write = EvidenceStore.write

    def held(self: EvidenceStore, *args: object) -> str:
        threads.add(threading.current_thread().name)
        assert gate.wait(10), "the test never let the card go"
        return write(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(EvidenceStore, "write", held)
    writer = PhotoWriter(store)
    eid = store.save("A", "v1", "vehicle_identified", JPEG, None)  # returns while the card is stalled
    assert not writer.drain(timeout=0) and store.get(eid) is None
    gate.set()
    assert writer.drain(timeout=10) and store.get(eid) is not None and threads == {"evidence-writer"}
    assert writer.close(timeout=10)
    late = store.save("A", "v1", "violation_started", JPEG, None)  # closed: written by the caller, at once
    assert store.get(late) is not None
    store.close()


def test_short_of_space_with_nothing_queued_a_photo_is_written_by_the_caller(tmp_path: Path, clock: FakeClock,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The store prunes or skips it as before, so an event never names a photo the reserve skipped."""
    store = EvidenceStore(tmp_path, clock, min_free_bytes=10**6)
    writer = PhotoWriter(store, thread=False)
    monkeypatch.setattr(store, "_free", lambda: 10**6 + 10)  # under the reserve with the photo: skipped
    from edge_agent.evidence.store import EvidenceSkipped
    with pytest.raises(EvidenceSkipped):
        store.save("A", "v1", "vehicle_identified", JPEG, None)
    assert writer.pending == 0 and store.space.skipped == 1
    store.close()


def test_the_agents_close_leaves_the_index_open_while_photos_are_still_written(tmp_path: Path, clock: FakeClock,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``run``'s stop plan: "write photos" before "close databases"; a drain that ran out of time leaves the index
    open for the writer (closed under it, the row was lost with a traceback)."""
    from edge_agent.runtime.assemble import assemble
    from edge_agent.sim.scenario import scene_config

    parts = assemble(scene_config(str(tmp_path), mqtt={"enabled": False}, web={"enabled": False}), clock=clock,
                     review=False, photo_thread=True)
    agent = parts.agent
    gate = threading.Event()
    write = EvidenceStore.write
    monkeypatch.setattr(EvidenceStore, "write", lambda self, *a: (gate.wait(10), write(self, *a))[1])
    eid = agent.evidence.save("A", "v1", "violation_started", JPEG, None)
    parts.drain_photos(0.0)  # the stop plan's time ran out
    parts.close()
    assert agent.photo_writer is not None and agent.photo_writer.pending == 1
    gate.set()
    assert agent.photo_writer.drain(timeout=10) and agent.evidence.get(eid) is not None  # the index still open
    agent.evidence.close()
    assert os.path.exists(agent.evidence.db_path)


def test_a_full_queue_drops_a_plain_photo_before_a_violations(tmp_path: Path, clock: FakeClock) -> None:
    """The violation's photo is the case a reviewer decides: the identifications queued after it go first (probe
    review22: it was dropped as the oldest, its violation named a photo never written, the identifications kept)."""
    store = EvidenceStore(tmp_path, clock)
    writer = PhotoWriter(store, thread=False, max_pending=3)
    vio = store.save("A", "v1", "violation_started", JPEG, None)
    plain = [store.save("B", f"v{i}", "vehicle_identified", JPEG, None) for i in range(3)]
    assert writer.dropped == 1
    writer.drain()
    assert store.get(vio) is not None
    assert [store.get(i) is not None for i in plain] == [False, True, True]
    store.close()


def test_the_hourly_sweep_leaves_a_photo_the_writer_is_writing(tmp_path: Path, clock: FakeClock,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep (the loop) deletes photo files no row names, an hour old by the file system's clock; the writer
    writes the files, then the row. NTP stepping the clock forward over an hour between the two (a Pi boots behind)
    let the sweep delete the files and the writer then add a row naming them: the index named a photo not on disk
    (probe review22). On the loop both ran on one thread and could not meet."""
    import edge_agent.evidence.store as store_mod

    store = EvidenceStore(tmp_path, clock)
    PhotoWriter(store, thread=False)
    synced = store_mod.fsync_dir

    def step_then_sweep(path: Path) -> None:
        synced(path)
        for p in path.glob("*.jpg"):  # the files are now 2 h old by the stepped clock
            st = p.stat()
            os.utime(p, (st.st_atime - 7200, st.st_mtime - 7200))
        store.sweep_orphans()  # the loop's hourly pass, while the writer is between the files and the row

    eid = store.save("A", "v1", "violation_started", JPEG, JPEG)
    monkeypatch.setattr(store_mod, "fsync_dir", step_then_sweep)
    assert store.writer is not None and store.writer.drain()  # type: ignore[attr-defined]
    monkeypatch.setattr(store_mod, "fsync_dir", synced)
    assert store.get(eid) is not None
    assert store.image_path(eid).is_file() and store.image_path(eid, "crop").is_file()  # type: ignore[union-attr]
    store.close()


def test_the_sweep_removing_the_writers_empty_day_folder_loses_no_photo(tmp_path: Path, clock: FakeClock,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep removes empty day folders before the store's today whose last change is old, outside the store's
    lock. The writer makes the photo's day folder, then writes its files: a clock stepped forward a day between the
    two made the new folder look old, the sweep removed it, and the photo was lost ("no such file", probe
    leftovers21). The writer makes the folder again."""
    import edge_agent.evidence.store as store_mod

    store = EvidenceStore(tmp_path, clock)
    writer = PhotoWriter(store, thread=False)
    synced = store_mod.fsync_dir
    swept: list[bool] = []

    def step_then_sweep(path: Path) -> None:
        synced(path)
        if path == store.root and not swept:  # the writer has just made the day folder, still empty
            swept.append(True)
            clock.advance(86400)  # NTP steps the store's clock a day forward
            store.sweep_orphans(min_age_s=-60)  # ... and the file system's: the new folder looks old
            assert not [d for d in store.root.iterdir() if d.is_dir()]  # the sweep removed it

    eid = store.save("A", "v1", "violation_started", JPEG, JPEG)
    monkeypatch.setattr(store_mod, "fsync_dir", step_then_sweep)
    assert writer.drain()
    monkeypatch.setattr(store_mod, "fsync_dir", synced)
    assert swept and writer.failed == 0 and store.get(eid) is not None
    assert store.image_path(eid).is_file() and store.image_path(eid, "crop").is_file()  # type: ignore[union-attr]
    store.close()
