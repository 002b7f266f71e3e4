"""The live-bays page shows open charger warnings (from the real tracker) and drops them when cleared."""

from __future__ import annotations

from edge_agent.events.types import Event, EventType
from tests.web.test_api import logged_in


def test_live_bays_page_shows_a_charger_mismatch_until_it_clears(site):
    c = logged_in(site)
    assert "charger-warning" not in c.get("/bays").text
    control = site.control
    site.control.chargers.on_event(Event.make(EventType.VEHICLE_DEPARTED, site.clock, bay_id="A2", visit_id="v"))
    control.charger_status("A2", "charging")
    site.clock.advance(14 * 60)
    assert control.chargers.tick() == []
    site.clock.advance(2 * 60)
    assert [e.type for e in control.chargers.tick()] == ["charger_mismatch"]
    html = c.get("/bays").text
    assert html.count("charger-warning") == 1 and "充电状态与车位不符" in html and "bay empty 16.0 min" in html
    control.charger_status("A2", "idle")
    assert "charger-warning" not in c.get("/bays").text


def test_a_notification_link_lands_on_its_violation(site):
    c = logged_in(site)
    event_id = site.log.get(3).event_id
    r = c.get(f"/violations/by-event/{event_id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/violations/3"
    assert c.get("/violations/by-event/not-an-event", follow_redirects=False).status_code == 404


def test_stats_page_refuses_bad_windows_and_exports_each_table(site):
    c = logged_in(site)
    assert c.get("/stats?from=2026-3-1").status_code == 400
    assert c.get("/stats?from=2026-03-05&to=2026-03-01").status_code == 400
    assert c.get("/stats?from=2025-01-01&to=2026-03-01").status_code == 400  # over 366 days
    assert c.get("/stats.csv?table=nope").status_code == 400
    for table, first in (("days", "day"), ("bays", "bay"), ("heat", "weekday"), ("bay_days", "day")):
        r = c.get(f"/stats.csv?table={table}&from=2026-03-01&to=2026-03-07")
        assert r.status_code == 200 and r.text.lstrip("\ufeff").split(",")[0] == first
    days = c.get("/stats.csv?table=days&from=2026-03-02&to=2026-03-03").text.lstrip("\ufeff").splitlines()
    assert [line.split(",")[:2] for line in days[1:]] == [["2026-03-02", "2"], ["2026-03-03", "2"]]


def test_a_violations_timeline_says_what_the_charger_reported(site):
    """``charger_status`` names the visit in progress (leftovers25): the violation's timeline lists it, and a bare
    "充电桩状态" told the reviewer nothing; it says the status reported, in the page's language."""
    c = logged_in(site)
    v = site.log.get(3)
    site.log.record(Event.make(EventType.CHARGER_STATUS, site.clock, bay_id=v.bay_id, visit_id=v.visit_id,
                               data={"status": "finished", "previous": "charging"}))
    html = c.get("/violations/3").text
    assert "充电桩状态" in html and "充电完成" in html
