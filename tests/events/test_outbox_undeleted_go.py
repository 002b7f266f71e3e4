"""Delivered rows whose deletion a full card refused (``test_outbox_remove_disk_full.py``) were deleted only with a
later batch of PUBACKs: once the card had room, a quiet site (no event, so no PUBACK) kept them for as long as it
stayed quiet — the heartbeat's ``outbox_depth`` counted them as waiting, the stop's flush waited its full 3 s for them
and said they were "left in the outbox for the next start", and the next start sent them all again (probe review63).
The pump tries the held deletions again at each wake and at the flush, not only at the next PUBACK."""

from __future__ import annotations

import itertools

from edge_agent.events.outbox import Outbox
from edge_agent.events.pump import OutboxPump
from tests.events.test_outbox_remove_disk_full import _fill_until_a_delete_fails
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)


def test_delivered_rows_a_full_card_kept_go_once_it_has_room_without_another_puback(tiny_disk):  # noqa: F811
    disk = tiny_disk(2)
    box = Outbox(disk / "o.sqlite", lazy=True)
    mids = itertools.count(1)
    sent: list[int] = []

    def publish(topic: str, payload: bytes, qos: int, retain: bool) -> int:
        sent.append(payload[-1])
        return next(mids)

    seqs = [box.put("t/events", b"x" * 3000 + bytes([i])) for i in range(40)]
    assert all(s is not None for s in seqs)
    box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: any write needs new pages
    _fill_until_a_delete_fails(box, disk, [s for s in seqs if s is not None])
    pump = OutboxPump(box, publish, window=100)
    pump.start()
    try:
        pump.connected(True)
        pump.wake()
        assert not pump.flush(0.5)  # all 40 handed over, none acked yet
        for mid in range(1, 41):
            pump.acked(mid, True)  # delivered: the full card refuses their deletion
        assert not pump.flush(0.5) and box.depth() == 40
        (disk / "filler.bin").unlink()  # room again; the site is quiet: no event, no PUBACK
        assert pump.flush(5.0), box.depth()  # deleted at once, not left for the next start
        assert box.depth() == 0 and len(sent) == 40
    finally:
        pump.stop()
        box.close()
    box = Outbox(disk / "o.sqlite", lazy=True)  # the next start sends none of them again
    try:
        assert box.pending(0, 1000) == []
    finally:
        box.close()


def _box_on_a_card_turning_read_only(tmp_path):  # noqa: ANN001, ANN202
    """An outbox, what its publish sent, the publish, and a ``remove`` a read-only card refuses (raised: no full
    disk)."""
    import sqlite3

    box = Outbox(tmp_path / "o.sqlite", lazy=True)
    mids = itertools.count(1)
    sent: list[bytes] = []

    def publish(topic: str, payload: bytes, qos: int, retain: bool) -> int:
        sent.append(payload)
        return next(mids)

    def refuse(seqs):  # noqa: ANN001, ANN202
        raise sqlite3.OperationalError("attempt to write a readonly database")

    return box, sent, publish, refuse


def test_a_held_deletion_that_keeps_failing_otherwise_never_stops_the_sending(tmp_path, monkeypatch):
    """The retry of held deletions at each wake must not stand in the sending's way: a card turned read-only after
    it was full (``attempt to write a readonly database``: no full disk, so raised) skipped the pump's fill at every
    wake, and the rows still to go waited for a PUBACK that could not come."""
    box, sent, publish, refuse = _box_on_a_card_turning_read_only(tmp_path)

    first = box.put("t/events", b"delivered")
    assert first is not None
    box._undeleted.add(first)  # delivered while the card was full: its deletion held
    monkeypatch.setattr(box, "remove", refuse)
    box.put("t/events", b"to go")
    pump = OutboxPump(box, publish, window=100)
    pump.start()
    try:
        pump.connected(True)
        pump.wake()
        pump.wake()
        assert not pump.flush(1.0)  # the held deletion stays; the rest is sent
        assert sent == [b"to go"]
    finally:
        pump.stop()
        box.close()


def test_a_batch_of_pubacks_whose_deletion_fails_otherwise_never_stops_the_sending(tmp_path, monkeypatch):
    """The same card read-only, the deletion that fails being a batch of PUBACKs' (not a held one retried at a wake):
    the pump skipped its fill for that batch, and on a card where no new row can be put (so no wake) the rows behind
    the window waited for the next connection (review66)."""
    box, sent, publish, refuse = _box_on_a_card_turning_read_only(tmp_path)

    for i in range(5):
        assert box.put("t/events", bytes([i])) is not None
    monkeypatch.setattr(box, "remove", refuse)  # the card turned read-only: nothing new can be put, no wake comes
    pump = OutboxPump(box, publish, window=2)
    pump.start()
    try:
        pump.connected(True)
        pump.wake()
        with pump._idle:
            assert pump._idle.wait_for(lambda: len(sent) == 2, 5.0)
        pump.acked(1, True)
        pump.acked(2, True)  # delivered: their deletion fails, the window has room again
        with pump._idle:  # no flush: it would wake the pump itself
            assert pump._idle.wait_for(lambda: len(sent) >= 4, 5.0), sent
        assert sent[:4] == [bytes([i]) for i in range(4)]
    finally:
        pump.stop()
        box.close()
