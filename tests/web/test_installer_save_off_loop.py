"""The installer's Save reloads the agent off the page's event loop (``routes_site.save_bays``).

Before: the route was ``async`` and called ``control.reload_config`` on the loop itself, so while a reload ran (model
load, camera re-open: seconds on a Pi) no other visitor's page was answered. Shown with a real server: a reload that
waits for the test to let it go, and another browser asking for /bays meanwhile (it timed out: the loop was held).
"""

from __future__ import annotations

import threading

import httpx

from edge_agent.web.server import WebServer
from tests.web.test_rate_limit import signed_in

GOOD = {"bays": [{"id": "A1", "polygon": [[10, 300], [400, 300], [400, 530], [10, 530]]}]}
HELD_S = 20.0  # how long the held reload waits for the test at most (a loop that never answers ends the test)


def test_a_slow_reload_does_not_hold_up_other_pages(site):
    entered, release = threading.Event(), threading.Event()
    reload = site.control.reload_config

    def slow_reload(installer=False):  # noqa: ANN001, ANN202
        entered.set()
        release.wait(HELD_S)
        return reload(installer)

    site.control.reload_config = slow_reload
    with WebServer(site.app(), "127.0.0.1", 0) as srv:
        installer, tok = signed_in(srv.url, "127.0.0.2")
        visitor, _ = signed_in(srv.url, "127.0.0.3")
        answers: list[httpx.Response] = []
        saving = threading.Thread(target=lambda: answers.append(
            installer.post("/installer", json=GOOD, headers={"X-CSRF-Token": tok}, timeout=HELD_S + 10)))
        saving.start()
        try:
            assert entered.wait(HELD_S)  # the Save is inside the reload now
            try:
                page = visitor.get("/bays", timeout=5.0)
            except httpx.TimeoutException:
                page = None
            assert page is not None and page.status_code == 200, "the page went unanswered while a reload ran"
            assert not answers  # still reloading
        finally:
            release.set()
            saving.join(HELD_S + 15)
        assert answers and answers[0].status_code == 200 and answers[0].json()["reload"]["ok"]
        assert [b.id for b in site.control.reloads[0].bays] == ["A1"]
        assert site.log.audit_entries()[0]["action"] == "save_bays"  # audited as before
        for c in (installer, visitor):
            c.close()
