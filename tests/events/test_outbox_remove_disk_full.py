"""Delivered rows on a card kept full: SQLite needs room in its WAL to delete a row too. The pump's deletion of a batch
of PUBACKed rows failed with a traceback (``outbox pump failed``, probe chaos36: a real ``run`` on an 8 MB tmpfs kept
full by another writer), the rows stayed, and the next connection sent them again. They are now kept out of the
sending, deleted with a later batch once the disk takes it, and the failure is said once per episode."""

from __future__ import annotations

import logging
import sqlite3

from edge_agent.events.outbox import Outbox
from tests.tmpfs import fill, tiny_disk  # noqa: F401  (fixture)


def _fill_until_a_delete_fails(box: Outbox, disk, seqs: list[int]) -> None:  # noqa: ANN001
    """Fill the disk and make the WAL need a new page for a delete: a real full card, not a mock."""
    fill(disk)
    assert box._db is not None
    try:  # the deletion as the pump does it: proves the disk refuses it now
        box._db.execute("BEGIN IMMEDIATE")
        box._db.execute("DELETE FROM outbox WHERE seq = ?", (seqs[0],))
        box._db.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if box._db.in_transaction:
            box._db.execute("ROLLBACK")
        assert "full" in str(exc) or "I/O" in str(exc)
        return
    raise AssertionError("the delete went through: the disk was not full enough for this test")


def test_delivered_rows_the_full_disk_cannot_delete_are_not_sent_again_and_go_later(tiny_disk, caplog):  # noqa: F811
    disk = tiny_disk(2)
    box = Outbox(disk / "o.sqlite", lazy=True)
    big = b"x" * 3000
    seqs = [box.put("t/events", big + bytes([i])) for i in range(60)]
    assert all(s is not None for s in seqs)
    box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: any write needs new pages
    delivered = [s for s in seqs[:20] if s is not None]
    filler = None
    try:
        _fill_until_a_delete_fails(box, disk, [s for s in seqs if s is not None])
        filler = disk / "filler.bin"
        caplog.set_level(logging.WARNING)
        assert box.remove(delivered) == 0  # no exception into the pump's thread
        assert box.remove([seqs[20]]) == 0  # the next batch too: said once for the episode
        waiting = [r.seq for r in box.pending(0, 1000)]
        assert not set(delivered + [seqs[20]]) & set(waiting)  # never offered again: the backend has them
        assert len([r for r in caplog.records if "not deleted" in r.getMessage()]) == 1
    finally:
        if filler is not None:
            filler.unlink()
    assert box.remove([seqs[21]]) == 22  # room again: the held deletions go with the next batch
    assert [r.seq for r in box.pending(0, 1000)] == seqs[22:]
    box.close()
