"""Snapshots (the installer's and the live page's pictures, MQTT ``snapshot``) are disposable; a violation's
photos and the visits' identifications are what a property manager reviews and disputes. Snapshots taken every
2 s all day must never push those out of the store: they keep a small budget of their own, oldest first."""

from __future__ import annotations

import os

from edge_agent.evidence.store import SNAPSHOT_KEEP, SNAPSHOT_SHARE, EvidenceSkipped, EvidenceStore
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)

JPEG = b"\xff\xd8" + b"x" * 998  # 1000 bytes
PHOTO = os.urandom(100_000)  # incompressible, like a JPEG


def _snapshots(s: EvidenceStore) -> list[str]:
    return [r[0] for r in s._db.execute("SELECT id FROM evidence WHERE kind='snapshot' ORDER BY epoch")]


def test_snapshots_every_2_s_all_day_leave_the_violation_evidence_alone(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock, max_bytes=20_000)  # room for 20 photos
    review = [s.save("A", "v1", "vehicle_identified", JPEG, JPEG[:200], "粤B12345"),
              s.save("A", "v1", "violation_started", JPEG, JPEG[:200], "粤B12345"),
              s.save("B", "v2", "vehicle_identified", JPEG, None, "粤B54321")]
    taken = []
    for i in range(600):  # a snapshot every 2 s for 20 min, retention every 5 min (the agent's is hourly)
        clock.advance(2)
        taken.append(s.save("A", "v1", "snapshot", JPEG, None))
        if i % 150 == 149:
            while True:
                s.enforce_retention()
                if not s.behind:
                    break
    assert all(s.get(e) is not None and s.image_path(e).is_file() for e in review)  # went first before: 2 of 3
    kept = _snapshots(s)
    assert kept == taken[-len(kept):] and taken[-1] in kept  # the newest stay, the oldest went
    assert len(kept) * 1000 <= max(int(20_000 * SNAPSHOT_SHARE), 1000) and len(kept) <= SNAPSHOT_KEEP
    assert len(list(tmp_path.glob("*/*.jpg"))) == len(kept) + 2 + 3  # no file left behind the cap


def test_snapshots_are_capped_by_count_on_a_large_budget(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock)  # 2 GiB: the share alone would hold 100,000 such snapshots
    taken = []
    for _ in range(SNAPSHOT_KEEP + 40):
        clock.advance(2)
        taken.append(s.save(None, None, "snapshot", JPEG, None))
    assert _snapshots(s) == taken[-SNAPSHOT_KEEP:]


def test_size_retention_takes_snapshots_before_identifications(tmp_path, clock):
    s = EvidenceStore(tmp_path, clock, max_bytes=3000)
    ident = s.save("A", "v1", "vehicle_identified", JPEG, None)
    clock.advance(60)
    violation = s.save("A", "v1", "violation_started", JPEG, None)
    clock.advance(60)
    snap = s.save("A", "v1", "snapshot", JPEG, None)
    clock.advance(60)
    newer = s.save("B", "v2", "vehicle_identified", JPEG, None)
    assert s.enforce_retention() == 1
    assert s.get(snap) is None and all(s.get(e) for e in (ident, violation, newer))  # was: the older ident went


def test_a_snapshot_never_prunes_other_evidence_on_a_full_disk(tiny_disk, clock):  # noqa: F811
    disk = tiny_disk(3)
    s = EvidenceStore(disk, clock, max_bytes=10**9, min_free_bytes=1_000_000)
    review = []
    for i in range(15):  # 1.5 MB of identifications and violations: the disk's room for photos is ~1.9 MB
        review.append(s.save("A", f"v{i}", "violation_started" if i % 3 == 0 else "vehicle_identified", PHOTO,
                             None))
        clock.advance(60)
    skipped = 0
    for _ in range(30):
        clock.advance(2)
        try:
            s.save("A", None, "snapshot", PHOTO, None)
        except EvidenceSkipped:
            skipped += 1
    assert all(s.get(e) is not None for e in review)  # before: the oldest identifications were pruned for them
    assert skipped < 30  # snapshots still work, in the room that is theirs
    ident = s.save("B", "w", "vehicle_identified", PHOTO, None)  # an identification prunes snapshots first
    assert s.get(ident) is not None and all(s.get(e) is not None for e in review)
