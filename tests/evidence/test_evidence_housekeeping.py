"""Evidence retention is housekeeping: a photo it cannot delete, or a wall clock that NTP steps,
must neither stop the agent nor cost evidence that is younger than ``max_age_days``."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.evidence.store import EvidenceStore
from tests.evidence.frameless import frameless_agent

JPEG = b"\xff\xd8" + b"x" * 998


@pytest.fixture
def read_only(tmp_path):  # noqa: ANN001, ANN201
    """A factory: ``read_only(folder)`` bind-mounts ``folder`` read-only onto itself (as a card
    remounted read-only or a root-owned folder behaves); unmounted at teardown."""
    mounted: list[Path] = []

    def make(folder: Path) -> Path:
        for cmd in (["mount", "--bind", str(folder), str(folder)],
                    ["mount", "-o", "remount,ro,bind", str(folder)]):
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                if mounted or cmd[1] == "-o":
                    subprocess.run(["umount", str(folder)], check=False)
                pytest.skip(f"cannot bind-mount read-only here: {res.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _agent(data_dir: Path, clock):  # noqa: ANN001, ANN202
    return frameless_agent(str(data_dir), clock, evidence={"max_age_days": 7})


def test_a_photo_retention_cannot_delete_is_kept_and_the_rest_go(tmp_path, clock, read_only):
    s = EvidenceStore(tmp_path, clock, max_age_days=7)
    stuck = s.save("A", "v1", "violation_started", JPEG, None)
    clock.advance(86400)
    other = s.save("A", "v2", "vehicle_identified", JPEG, None)
    read_only(s.image_path(stuck).parent)
    clock.advance(30 * 86400)
    assert s.enforce_retention() == 1  # no OSError: the other one went
    assert s.get(other) is None and s.get(stuck) is not None and s.undeletable == 1


def test_the_loop_survives_retention_that_fails_at_every_start(tmp_path, clock, read_only):
    agent = _agent(tmp_path, clock)
    stuck = agent.evidence.save("A", "v1", "vehicle_identified", JPEG, None)
    read_only(agent.evidence.image_path(stuck).parent)
    clock.advance(30 * 86400)
    agent.step()  # retention runs on the first turn; it used to raise OSError (EROFS) out of the loop
    agent.step()
    assert agent.evidence.get(stuck) is not None


def test_a_locked_index_does_not_stop_the_loop(tmp_path, clock, monkeypatch):
    import sqlite3

    agent = _agent(tmp_path, clock)
    calls: list[float] = []

    def locked() -> int:
        calls.append(clock.monotonic())
        raise sqlite3.OperationalError("database is locked")  # the web process holding the shared file

    monkeypatch.setattr(agent.evidence, "enforce_retention", locked)
    agent.step()
    agent.step()
    assert len(calls) == 1  # it ran on the first turn (and failed), not again at once
    clock.advance(3599)
    agent.step()
    assert len(calls) == 1
    clock.advance(2)
    agent.step()
    assert len(calls) == 2  # retried an hour later


def test_ntp_stepping_a_booted_pi_forward_keeps_the_photos_it_took_before(tmp_path):
    from datetime import datetime, timezone

    from edge_agent.clock import FakeClock

    clock = FakeClock(datetime(1970, 1, 1, 0, 5, tzinfo=timezone.utc))  # no RTC: the clock before NTP
    s = EvidenceStore(tmp_path, clock, max_age_days=30)
    photo = s.save("A", "v1", "violation_started", JPEG, JPEG)
    clock.step_wall(datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp() - clock.now().timestamp())  # NTP synced
    clock.advance(3600)
    assert s.enforce_retention() == 0 and s.get(photo) is not None  # an hour old, not 56 years
    clock.advance(30 * 86400)
    assert s.enforce_retention() == 1 and s.get(photo) is None  # really 30 days old now


def test_a_wall_clock_briefly_ahead_does_not_empty_the_store(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock, max_age_days=30)
    ids = []
    for i in range(5):
        ids.append(s.save("A", f"v{i}", "violation_started", JPEG, None))
        clock.advance(3600)
    clock.step_wall(365 * 86400)  # a bad time source: a year ahead, then corrected
    assert s.enforce_retention() == 0
    clock.step_wall(-365 * 86400)
    assert all(s.get(i) is not None for i in ids)


def test_the_recorder_forgets_old_bay_events_hourly_and_keeps_the_recent(tmp_path):
    """The events table fed by every bus event only grew: pruned at the first event, then hourly."""
    from edge_agent.events.bus import EventBus
    from edge_agent.events.types import Event, EventType
    from edge_agent.evidence.recorder import ViolationRecorder

    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=10)
    rec.start()
    try:
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="old"))
        clock.advance(11 * 86400)
        bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id="old"))  # prunes "old"'s arrival
        assert [e.type for e in rec.log.timeline("old")] == ["vehicle_departed"]
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="new"))
        clock.advance(10 * 86400 - 60)
        bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id="new"))
        assert len(rec.log.timeline("new")) == 2  # a pass, but "new" began 10 days minus a minute ago
        clock.advance(1800)  # within the hour: nothing pruned although "new" is now past 10 days...
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="next"))
        assert len(rec.log.timeline("new")) == 2
        clock.advance(1800)  # ...the next hour's pass forgets it
        bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id="next"))
        assert [e.type for e in rec.log.timeline("new")] == ["vehicle_departed"]  # its arrival: 10 days and a half hour
        assert len(rec.log.timeline("next")) == 2
    finally:
        rec.stop()


def test_files_a_crash_left_without_an_index_row_are_swept_once_an_hour_old(tmp_path):
    """A crash between a photo's write and its row left files nothing deleted and max_mb never
    counted; a save in flight (a young file) and indexed photos stay."""
    import os
    import time
    import uuid

    store = EvidenceStore(tmp_path / "ev", FakeClock())
    try:
        kept = store.save("A", "v1", "violation", b"\xff\xd8frame", b"\xff\xd8crop")
        day = next(p for p in (tmp_path / "ev").iterdir() if p.is_dir())
        orphan, half, young = (day / f"{uuid.uuid4()}.jpg", day / f"{uuid.uuid4()}_crop.tmp",
                               day / f"{uuid.uuid4()}.jpg")
        for p in (orphan, half, young):
            p.write_bytes(b"\xff\xd8")
        old = time.time() - 7200
        for p in (orphan, half, *day.glob(f"{kept}*")):
            os.utime(p, (old, old))
        (day / "notes.txt").write_text("not ours")
        os.utime(day / "notes.txt", (old, old))
        assert store.sweep_orphans() == 2
        assert not orphan.exists() and not half.exists() and young.exists() and (day / "notes.txt").exists()
        assert all(store.image_path(kept, w).is_file() for w in ("frame", "crop"))  # type: ignore[union-attr]
    finally:
        store.close()


def test_an_undecided_violations_photos_outlive_max_age_until_it_is_decided(tmp_path):
    """A property manager back from a month away found the open cases without their photos."""
    from edge_agent.events.types import Event, EventType
    from edge_agent.evidence.violations import ViolationLog

    clock = FakeClock(synced=True)  # NTP vouches for the month: an unsynced clock's is doubted (chaos37)
    store = EvidenceStore(tmp_path / "ev", clock, max_age_days=7)
    vlog = ViolationLog(store.db_path, clock)
    try:
        start = store.save("A", "v1", "violation_started", b"\xff\xd8start", None)
        seen = store.save("A", "v1", "vehicle_identified", b"\xff\xd8plate", None)  # the same visit's plate photo
        other = store.save("B", "v2", "vehicle_identified", b"\xff\xd8other", None)
        vlog.record(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="v1", evidence_id=start,
                               data={"plate": "粤B12345", "nev": False}))
        clock.advance(8 * 86400)
        store.close()
        store = EvidenceStore(tmp_path / "ev", clock, max_age_days=7)  # restarted: the wall clock alone dates them
        assert store.enforce_retention() == 1  # only the other visit's photo
        assert store.get(other) is None and store.get(start) is not None and store.get(seen) is not None
        vlog.decide(1, "confirmed", "manager")
        assert store.enforce_retention() == 2
        assert store.get(start) is None and store.get(seen) is None
    finally:
        vlog.close()
        store.close()


def _backlog(s: EvidenceStore, clock, n: int, kind: str = "vehicle_identified") -> list[str]:  # noqa: ANN001
    ids = []
    for i in range(n):
        ids.append(s.save("A", f"v{i}", kind, JPEG, None))
        clock.advance(60)
    return ids


@pytest.mark.parametrize("backlog", ["age", "size"])
def test_a_retention_backlog_is_deleted_a_bounded_batch_at_a_time(tmp_path, clock, backlog):
    """The frame loop runs retention: 10,000 photos due at once (an agent off for weeks, a lowered
    ``max_mb``) were deleted in one pass, 22 s with the loop held (the watchdog restarts it at 30 s)."""
    s = EvidenceStore(tmp_path, clock, max_age_days=7)
    ids = _backlog(s, clock, 12)
    if backlog == "age":
        clock.advance(30 * 86400)
    else:
        s.max_bytes = 2 * len(JPEG)
    passes = []
    while True:
        passes.append(s.enforce_retention(limit=5))
        if not s.behind:
            break
    assert passes == ([5, 5, 2] if backlog == "age" else [5, 5])
    assert [i for i in ids if s.get(i)] == ([] if backlog == "age" else ids[-2:])


def test_photos_retention_cannot_delete_do_not_make_it_retry_every_second(tmp_path, clock, read_only):
    s = EvidenceStore(tmp_path, clock, max_age_days=7)
    ids = _backlog(s, clock, 3)
    read_only(s.image_path(ids[0]).parent)
    clock.advance(30 * 86400)
    assert s.enforce_retention(limit=3) == 0 and not s.behind  # no progress: the next try is in an hour


def test_the_loop_works_a_retention_backlog_off_a_batch_at_a_time(tmp_path, clock, monkeypatch):
    import edge_agent.evidence.store as store
    from edge_agent.runtime.agent import RETENTION_CATCHUP_S

    monkeypatch.setattr(store, "RETENTION_BATCH", 4)
    monkeypatch.setattr(store.EvidenceStore.enforce_retention, "__defaults__", (4,))
    agent = _agent(tmp_path, clock)
    ids = _backlog(agent.evidence, clock, 10)
    clock.advance(30 * 86400)
    left = []
    for _ in range(4):
        agent.step()
        clock.advance(RETENTION_CATCHUP_S / 2)
        agent.step()  # before the catch-up interval: nothing more
        left.append(sum(agent.evidence.get(i) is not None for i in ids))
        clock.advance(RETENTION_CATCHUP_S / 2)
    assert left == [6, 2, 0, 0]


def test_day_folders_retention_emptied_are_removed_by_the_hourly_sweep(tmp_path):
    """Retention deleted the photos but never their day folder: one empty folder a day, for ever."""
    import os
    import time

    clock = FakeClock()
    store = EvidenceStore(tmp_path / "ev", clock, max_age_days=7)
    try:
        store.save("A", "v1", "vehicle_identified", JPEG, None)
        (first,) = [p for p in (tmp_path / "ev").iterdir() if p.is_dir()]
        clock.advance(10 * 86400)
        kept = store.save("A", "v2", "vehicle_identified", JPEG, None)
        assert store.enforce_retention() == 1 and list(first.iterdir()) == []
        (tmp_path / "ev" / "2025-12-31").mkdir()  # emptied just now (or a save in flight): kept this hour
        old = time.time() - 7200
        os.utime(first, (old, old))
        (tmp_path / "ev" / "notes").mkdir()  # not a day folder: not ours to remove
        os.utime(tmp_path / "ev" / "notes", (old, old))
        store.sweep_orphans()
        folders = sorted(p.name for p in (tmp_path / "ev").iterdir() if p.is_dir())
        assert folders == ["2025-12-31", clock.now().strftime("%Y-%m-%d"), "notes"]
        assert store.image_path(kept).is_file()  # type: ignore[union-attr]
    finally:
        store.close()


def test_damaged_copies_that_name_plates_go_after_max_age_days(tmp_path, clock):
    """A damaged evidence index or outbox set aside (``*.corrupt-*``) holds the plates it held then; only their
    number was bounded (the newest 3), so those copies outlived every retention. The hourly pass deletes them once
    ``evidence.max_age_days`` old (their readable rows live on in the fresh file, under its retention); a copy of
    the lock latches, which names no plate, is left to ``prune_aside``."""
    import os

    agent = _agent(tmp_path, clock)
    now = clock.now().timestamp()
    old = [tmp_path / "evidence" / "evidence.db.corrupt-1", tmp_path / "evidence" / "evidence.db.corrupt-1-wal",
           tmp_path / "mqtt-outbox.sqlite.corrupt-1", tmp_path / "notify-dead" / "wecom.sqlite.corrupt-1"]
    young = [tmp_path / "evidence" / "evidence.db.corrupt-2", tmp_path / "notify-wecom.sqlite.corrupt-2"]
    latches = tmp_path / "lock-latches.json.corrupt-20260101T000000"
    for p in [*old, *young, latches]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\xe7\xb2\xa4BD12345")
        os.utime(p, (now - 8 * 86400, now - 8 * 86400) if p in old or p == latches else (now - 86400, now - 86400))
    agent.step()  # retention runs on the first turn
    assert [p for p in old if p.exists()] == [] and all(p.exists() for p in young) and latches.exists()


_DIE_AFTER_FIRST_PHOTO_UNLINK = """
import os, sys
from datetime import datetime, timezone
from pathlib import Path
from edge_agent.clock import FakeClock
from edge_agent.evidence.store import EvidenceStore

real = Path.unlink
def unlink_then_die(self, missing_ok=False):
    real(self, missing_ok=missing_ok)
    if self.suffix == ".jpg":
        os._exit(9)  # the process is gone here, as with kill -9 or a power cut
Path.unlink = unlink_then_die
s = EvidenceStore(Path(sys.argv[1]), FakeClock(datetime(2026, 3, 1, tzinfo=timezone.utc), synced=True), max_age_days=7)
s.enforce_retention()
"""


def test_a_crash_while_retention_deletes_leaves_no_row_naming_a_missing_photo(repo, tmp_path):
    """Deleting a photo and its row cannot be one atomic step. Files went first and the row's DELETE was committed
    after the batch, so a process killed in between left rows naming photos no longer on disk: measured with 50
    SIGKILLs of a real ``run`` taking snapshots, one such row (the review page showed a broken picture, the photo's
    URL a 404). Rows go first now: a crash leaves a file no row names, which ``sweep_orphans`` deletes."""
    old = FakeClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    s = EvidenceStore(tmp_path, old, max_age_days=7)
    ids = [s.save("A", f"v{i}", "vehicle_identified", JPEG, JPEG) for i in range(3)]
    s.close()
    child = subprocess.run([sys.executable, "-c", _DIE_AFTER_FIRST_PHOTO_UNLINK, str(tmp_path)], cwd=repo,
                           capture_output=True, text=True)
    assert child.returncode == 9, child.stderr  # it died inside retention, after one photo was unlinked
    s = EvidenceStore(tmp_path, old, max_age_days=7)
    kept = [i for i in ids if s.get(i) is not None]
    assert [i for i in kept if not s.image_path(i).is_file() or not s.image_path(i, "crop").is_file()] == []


def test_a_name_with_a_line_break_after_it_is_not_a_photo_name_the_store_writes(tmp_path):
    """``remove_photo`` unlinks only names the store writes (``YYYY-MM-DD/<uuid>[_crop].jpg``): its patterns ended
    in ``$``, which also matches before a final line break, so an index row naming ``…/<uuid>.jpg\\n`` or a day
    ``2026-01-01\\n`` passed, as the camera's event id once did (``ids.is_uuid``: one rule, matched whole)."""
    from edge_agent.evidence.store import remove_photo

    uid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    day = tmp_path / "2026-01-01"
    day.mkdir()
    (day / f"{uid}.jpg\n").write_bytes(b"not the store's")
    assert remove_photo(tmp_path, f"2026-01-01/{uid}.jpg\n") is False
    assert (day / f"{uid}.jpg\n").exists()
    assert remove_photo(tmp_path, f"2026-01-01\n/{uid}.jpg") is False
    (day / f"{uid}.jpg").write_bytes(b"\xff\xd8")
    assert remove_photo(tmp_path, f"2026-01-01/{uid}.jpg") is True and not (day / f"{uid}.jpg").exists()


def test_the_starts_retention_under_a_backups_lock_is_a_quiet_retry(tmp_path, clock, caplog):
    """A backup (``sqlite3 .backup``, a shell in a transaction) holding ``evidence.db`` at the start: the first turn's
    retention logged an ERROR with a traceback (probe updown34) for a lock nobody need act on. Now one warning line
    without a traceback, and the pass goes ahead at the next try once the lock is gone (chaos37)."""
    import logging

    from edge_agent.runtime.agent import RETENTION_EVERY_S
    from tests.evidence.test_evidence_locked import locked

    agent = _agent(tmp_path, clock)
    old = agent.evidence.save("A", "v1", "vehicle_identified", JPEG, None)
    clock.advance(30 * 86400)
    agent.evidence._db.execute("PRAGMA busy_timeout=20")  # the 5 s wait cut: the point is what follows it
    caplog.set_level(logging.WARNING)
    with locked(agent.evidence.db_path):
        agent.step()
        agent.step()
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [] and agent.evidence.get(old) is not None
    assert sum("retention" in r.getMessage() for r in caplog.records) == 1
    clock.advance(RETENTION_EVERY_S)
    agent.step()
    assert agent.evidence.get(old) is None
