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
