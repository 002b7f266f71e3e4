"""A HEAD of ``/installer`` answers as GET without taking a camera picture (RFC 9110: HEAD is safe)."""

from __future__ import annotations

from tests.web.test_api import logged_in


def test_head_of_the_installer_page_takes_no_picture(site):
    """``curl -I /installer`` (a load balancer's probe, a link checker) grabbed a frame from the camera and stored it
    as snapshot evidence each time, as GET does: a HEAD changed what is on the device. Its headers come without it."""
    c = logged_in(site)
    site.clock.advance(3600)  # no picture of the page's recent visits to reuse
    calls: list[object] = []
    snapshot = site.control.snapshot
    site.control.snapshot = lambda bay_id: calls.append(bay_id) or snapshot(bay_id)
    head = c.head("/installer")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"].startswith("text/html")
    assert calls == []  # no picture taken
    got = c.get("/installer")
    assert got.status_code == 200 and calls == [None]  # a GET takes one
    assert head.headers["content-security-policy"] == got.headers["content-security-policy"]
