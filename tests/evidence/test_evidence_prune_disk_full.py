"""Evidence on a card another program keeps full (its log taking every byte that comes free): making room for a photo
deletes the oldest rows first, and SQLite needs room in its WAL to delete them. That deletion's ``database or disk is
full`` went up through ``save`` as a traceback on the frame loop (``saving evidence for vehicle_identified failed``,
probe chaos36: a real ``run`` on an 8 MB tmpfs). It is a skipped photo, counted, as any photo the disk has no room
for; the rows and photos it could not prune stay as they were."""

from __future__ import annotations

import os

import pytest

from edge_agent.evidence.store import EvidenceSkipped, EvidenceStore
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixtures)

PHOTO = os.urandom(100_000)  # incompressible, like a JPEG


def test_a_prune_the_full_disk_refuses_is_a_skipped_photo_not_a_traceback(tiny_disk, clock):  # noqa: F811
    disk = tiny_disk(3)
    s = EvidenceStore(disk, clock, min_free_bytes=500_000)
    ids = []
    for i in range(5):
        ids.append(s.save("A", f"v{i}", "vehicle_identified", PHOTO, None))
        clock.advance(60)
    s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: the prune's delete needs new pages
    filler = fill(disk)  # every byte taken by someone else
    try:
        with pytest.raises(EvidenceSkipped):
            s.save("A", "v9", "vehicle_identified", PHOTO, None)
        assert s.space.skipped == 1
        assert [i for i in ids if s.get(i) is not None] == ids  # nothing half-pruned
        assert all(s.image_path(i).is_file() for i in ids)
    finally:
        filler.unlink()
    assert s.save("A", "v10", "vehicle_identified", PHOTO, None)  # room again: photos are saved again
