"""A power cut right after a violation's event went into the (synced) outbox must not cost its evidence photo.

The runtime saves the photo (``EvidenceStore.save``), then puts the event naming its ``evidence_id`` into the outbox,
which syncs each message (``synchronous=FULL``). The store's index committed at ``synchronous=NORMAL`` and the photo's
rename was not synced either: a power cut kept the event and lost the row, and the hourly ``sweep_orphans`` then
deleted the photo as a crash's leftover — the backend held a violation whose proof was gone.

A power cut keeps what was synced. Measured with ``strace`` on a real save: the photo files are fsynced, then renamed;
at NORMAL the row's WAL frames (5 pages) are written and nothing more is synced before ``save`` returns; at FULL
SQLite ``fdatasync``s the WAL at the commit (sqlite.org/pragma.html#pragma_synchronous). The copy below keeps
exactly that: the WAL only if the store's connection syncs it at each commit, a photo's name only if its folder was
fsynced after the rename (watched on ``os.fsync``, which the store's folder syncs go through)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from edge_agent.events.outbox import Outbox
from edge_agent.evidence.forget import forget_plate
from edge_agent.evidence.store import EvidenceStore

JPEG = b"\xff\xd8" + b"x" * 5000
CROP = b"\xff\xd8" + b"c" * 300


class SyncedFolders:
    """The folders whose entries were fsynced since ``reset`` (a rename is on the card only after that)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folders: set[Path] = set()
        real = os.fsync

        def fsync(fd: int) -> None:
            real(fd)
            path = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if path.is_dir():
                self.folders.add(path)

        monkeypatch.setattr(os, "fsync", fsync)


def power_cut(store: EvidenceStore, synced: SyncedFolders, new_photos: list[Path], into: Path,
              new_day: bool = False) -> Path:
    """A copy of the store's folder as a power cut now would leave it (see the module's docstring); the main file
    holds what the last checkpoint wrote, which the test takes just before the save. ``new_day``: the save made
    the photos' day folder, whose own name is on the card only once ``evidence/`` was synced."""
    wal_synced = store._db.execute("PRAGMA synchronous").fetchone()[0] >= 2  # FULL: the WAL is synced at each commit
    skip = [] if wal_synced else ["evidence.db-wal", "evidence.db-shm"]
    shutil.copytree(store.root, into, ignore=shutil.ignore_patterns(*skip))
    for p in new_photos:
        if p.parent not in synced.folders or (new_day and store.root not in synced.folders):
            (into / p.relative_to(store.root)).unlink()
    return into


def _an_hour_later(root: Path) -> None:
    """File times an hour and more back: the hourly sweep's age, without waiting for it."""
    old = time.time() - 2 * 3600
    for p in root.glob("*/*"):
        os.utime(p, (old, old))


def test_a_violation_photo_survives_a_power_cut_after_its_event_was_queued(tmp_path, clock, monkeypatch):
    """Before: the outbox held ``violation_started`` naming X, the index had no row X, and the sweep deleted X."""
    store = EvidenceStore(tmp_path / "evidence", clock)
    store.save("A", "v0", "vehicle_identified", JPEG, None)  # an earlier photo: today's folder exists
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the main file holds all of it, synced
    synced = SyncedFolders(monkeypatch)
    x = store.save("A", "v1", "violation_started", JPEG, CROP, "粤B12345")
    outbox = Outbox(tmp_path / "mqtt-outbox.sqlite")  # synchronous=FULL: the event survives the cut
    outbox.put("edge/site/bay/A/event/violation_started",
               json.dumps({"type": "violation_started", "evidence_id": x}).encode(), key="e-1")
    outbox.close()
    new = [store.root / rel for rel in (store.get(x).frame_file, store.get(x).crop_file)]
    cut = power_cut(store, synced, new, tmp_path / "after-cut")
    store.close()

    assert [json.loads(r.payload)["evidence_id"] for r in Outbox(tmp_path / "mqtt-outbox.sqlite").pending()] == [x]
    after = EvidenceStore(cut, clock)
    _an_hour_later(cut)
    after.sweep_orphans()
    rec = after.get(x)
    assert rec is not None, "the event names a photo whose index row the power cut took"
    assert after.image_path(x).read_bytes() == JPEG and after.image_path(x, "crop").read_bytes() == CROP
    assert rec.kind == "violation_started" and rec.protected and rec.plate == "粤B12345"


def test_the_first_photo_of_a_day_survives_with_its_new_folder(tmp_path, clock, monkeypatch):
    """The day's folder is made by the save: its own name in ``evidence/`` must be synced too."""
    store = EvidenceStore(tmp_path / "evidence", clock)
    synced = SyncedFolders(monkeypatch)
    x = store.save("A", "v1", "violation_started", JPEG, None, "粤B12345")
    cut = power_cut(store, synced, [store.root / store.get(x).frame_file], tmp_path / "after-cut", new_day=True)
    store.close()
    after = EvidenceStore(cut, clock)
    _an_hour_later(cut)
    after.sweep_orphans()
    assert after.get(x) is not None and after.image_path(x).read_bytes() == JPEG


def test_an_orphan_is_still_deleted_so_a_forgotten_plate_stays_forgotten(tmp_path, clock):
    """The fix syncs; it does not re-index orphans. A forget (or retention) deletes the rows first, then the files: a
    crash between leaves photos no row names, and the sweep must delete them, never bring them back."""
    root = tmp_path / "evidence"
    store = EvidenceStore(root, clock)
    x = store.save("A", "v1", "violation_started", JPEG, CROP, "粤B12345")
    keep = store.save("B", "v2", "vehicle_identified", JPEG, None, "粤C99999")
    frame, crop = store.get(x).frame_file, store.get(x).crop_file
    store.close()
    saved = {rel: (root / rel).read_bytes() for rel in (frame, crop)}
    forget_plate(tmp_path, "粤B12345", clock, "test", [])
    for rel, data in saved.items():  # the crash: rows gone, files not yet
        (root / rel).write_bytes(data)
    store = EvidenceStore(root, clock)
    _an_hour_later(root)
    assert store.sweep_orphans() == 2
    assert not (root / frame).exists() and not (root / crop).exists() and store.get(x) is None
    assert store.image_path(keep).read_bytes() == JPEG
