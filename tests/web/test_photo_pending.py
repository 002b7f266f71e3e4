"""The page never names a photo that is not on disk (probe evidence20): ``run`` writes evidence photos off the frame
loop, so a violation can be on the page (its row is written with the event) before its photo is. Until then, or for
good when the process ended first, the page says the photo is not saved yet instead of a broken picture."""

from __future__ import annotations

from edge_agent.evidence.writer import PhotoWriter
from tests.web.conftest import publish_visit
from tests.web.test_api import logged_in


def test_a_violation_whose_photo_is_queued_says_so_and_shows_it_once_written(site) -> None:  # noqa: ANN001
    writer = PhotoWriter(site.store, thread=False)
    publish_visit(site, "A2", "粤B77777", "blue", False, "format+colour", "fuel_vehicle")
    v = max((site.log.get(i) for i in range(1, 50)), key=lambda x: x.id if x else 0)
    assert v is not None and v.plate == "粤B77777" and v.evidence_id and site.store.get(v.evidence_id) is None
    c = logged_in(site)
    page = c.get(f"/violations/{v.id}").text
    assert 'id="photo-pending"' in page and f"/evidence/{v.evidence_id}/frame.jpg" not in page
    writer.drain()
    page = c.get(f"/violations/{v.id}").text
    assert 'id="photo-pending"' not in page and f"/evidence/{v.evidence_id}/frame.jpg" in page
    assert c.get(f"/evidence/{v.evidence_id}/frame.jpg").status_code == 200


def test_a_photo_retention_deleted_is_not_said_to_be_saved_later(site) -> None:  # noqa: ANN001
    """A decided violation keeps its row ``review_days`` (730) but its photos go ``max_age_days`` (30) after: the page
    said "not saved yet (being written, or the device stopped before writing it)" for every such case (probe
    review22). Only a photo this process's writer still holds is "being written"."""
    publish_visit(site, "A2", "粤B77777", "blue", False, "format+colour", "fuel_vehicle")
    v = max((site.log.get(i) for i in range(1, 50)), key=lambda x: x.id if x else 0)
    assert v is not None and v.evidence_id and site.store.get(v.evidence_id) is not None
    site.log.decide(v.id, "confirmed", "alice")
    site.clock.advance(site.store.max_age_days * 86400 + 1)
    site.store._saved_at.clear()  # another run: the wall clock alone decides (``enforce_retention``)
    PhotoWriter(site.store, thread=False)  # ``run`` serving the page: its writer says what it still holds
    assert site.store.enforce_retention() >= 1 and site.store.get(v.evidence_id) is None
    page = logged_in(site).get(f"/violations/{v.id}").text
    assert 'id="photo-pending"' not in page and 'id="photo-gone"' in page
    assert "not saved yet" not in page and "尚未保存" not in page
    site.store.writer = None  # ``review`` beside ``run``: the agent's queue is not this process's to see
    page = logged_in(site).get(f"/violations/{v.id}").text
    assert 'id="photo-gone"' in page and "代理尚未写入" in page


class _WritesAsAsked(PhotoWriter):
    """The writer finishing the photo at the moment the page asks about it."""

    def holds(self, eid: str) -> bool:
        self.drain()
        return super().holds(eid)


def test_a_photo_written_while_the_page_asks_is_shown_not_called_missing(site) -> None:  # noqa: ANN001
    _WritesAsAsked(site.store, thread=False)
    publish_visit(site, "A2", "粤B77777", "blue", False, "format+colour", "fuel_vehicle")
    v = max((site.log.get(i) for i in range(1, 50)), key=lambda x: x.id if x else 0)
    assert v is not None and v.evidence_id and site.store.get(v.evidence_id) is None
    page = logged_in(site).get(f"/violations/{v.id}").text
    assert 'id="photo-gone"' not in page and f"/evidence/{v.evidence_id}/frame.jpg" in page


def test_a_photo_whose_row_a_lock_kept_out_is_pending_not_gone_and_shown_once_written(site) -> None:  # noqa: ANN001
    """Another program holding the index's lock (a backup) kept the photo's row out (probe photohold28): the photo is
    on disk, its row held (``held_rows.py``). The page says it is not saved yet, not that it is gone, and shows it
    once the row is in."""
    import sqlite3

    site.store._db.execute("PRAGMA busy_timeout=20")  # the store's 5 s wait ran out: the point is what follows
    site.log._db.execute("PRAGMA busy_timeout=20")
    other = sqlite3.connect(site.store.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        publish_visit(site, "A2", "粤B77777", "blue", False, "format+colour", "fuel_vehicle")
    finally:
        other.execute("ROLLBACK")
        other.close()
    site.log.write_held()  # the log's events first (its minute's retry); the store's rows still wait
    v = max((site.log.get(i) for i in range(1, 50)), key=lambda x: x.id if x else 0)
    assert v is not None and v.evidence_id and site.store.get(v.evidence_id) is None
    c = logged_in(site)
    page = c.get(f"/violations/{v.id}").text
    assert 'id="photo-pending"' in page and 'id="photo-gone"' not in page
    assert site.store.write_held() == 0
    page = c.get(f"/violations/{v.id}").text
    assert 'id="photo-pending"' not in page and f"/evidence/{v.evidence_id}/frame.jpg" in page
    assert c.get(f"/evidence/{v.evidence_id}/frame.jpg").status_code == 200


def _violation_with_photo(site):  # noqa: ANN001, ANN202
    publish_visit(site, "A2", "粤B77777", "blue", False, "format+colour", "fuel_vehicle")
    v = max((site.log.get(i) for i in range(1, 50)), key=lambda x: x.id if x else 0)
    assert v is not None and v.evidence_id and site.store.get(v.evidence_id) is not None
    return v, site.store.image_path(v.evidence_id)


def test_a_photo_deleted_or_cut_short_under_the_store_is_said_missing_not_shown_broken(site) -> None:  # noqa: ANN001
    """The index names the photo, but its file was deleted by hand, or cut short (a card that lost the file's tail
    at a power cut, a copy that stopped): the page showed a broken picture and said nothing (probe chaos43)."""
    v, path = _violation_with_photo(site)
    c = logged_in(site)
    whole = path.read_bytes()
    for fault in ("cut", "deleted"):
        if fault == "cut":
            path.write_bytes(whole[: len(whole) // 2])
        else:
            path.unlink()
        page = c.get(f"/violations/{v.id}").text
        assert f"/evidence/{v.evidence_id}/frame.jpg" not in page, fault
        assert 'id="photo-damaged"' in page and 'id="photo-pending"' not in page, fault
    assert c.get(f"/evidence/{v.evidence_id}/frame.jpg").status_code == 404
    path.write_bytes(whole)  # put back whole: shown again
    page = c.get(f"/violations/{v.id}").text
    assert f"/evidence/{v.evidence_id}/frame.jpg" in page and 'id="photo-damaged"' not in page
