"""The statistics page in real headless Chromium under the strict Content-Security-Policy the web
hardening sets (no inline script or style): three ECharts charts drawn from the vendored file, the
tables and CSV behind them, at phone and laptop width. Screenshots: test-output/screenshots/stats-*.png."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge_agent.events.types import Event
from edge_agent.web.server import WebServer
from tests.web.conftest import BAYS
from tests.web.test_browser import browser, login, shot  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@pytest.fixture
def server(site):
    # a month of NEV visits with charger status on A1 beside the fixture's violations
    clock, bus = site.clock, site.bus
    start = clock.now()
    clock.advance((datetime(2026, 3, 7, 0, 0, tzinfo=timezone.utc) - start).total_seconds())
    for day in range(20):
        for k, bay in enumerate(BAYS):
            vid = f"s-{day}-{bay}"
            t = datetime(2026, 3, 7, 0, 30, tzinfo=timezone.utc) + timedelta(days=day, hours=(day % 5) * 2 + 5 * k)
            clock.advance((t - clock.now()).total_seconds())  # A1 in the morning, A2 later (site time +08:00)
            bus.publish(Event.make("vehicle_arrived", clock, bay_id=bay, visit_id=vid))
            bus.publish(Event.make("vehicle_identified", clock, bay_id=bay, visit_id=vid,
                                   data={"plate": "粤BD12345", "nev": True, "colour": "green"}))
            if bay == "A1":
                bus.publish(Event.make("charger_status", clock, bay_id=bay, data={"status": "charging", "previous": None}))
            clock.advance(3 * 3600 + 600 * k)
            if bay == "A1":
                bus.publish(Event.make("charger_status", clock, bay_id=bay, data={"status": "finished", "previous": "charging"}))
            clock.advance(1800)
            bus.publish(Event.make("vehicle_departed", clock, bay_id=bay, visit_id=vid, data={"stayed_s": 3 * 3600 + 600 * k + 1800.0}))
    app = site.app()

    @app.middleware("http")
    async def csp(request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        return response

    with WebServer(app, "127.0.0.1", 0) as srv:
        yield srv


@pytest.mark.parametrize("size", ["phone", "laptop"])
def test_statistics_page_draws_three_charts_under_the_strict_csp(browser, server, size):  # noqa: F811
    ctx, page = login(browser, server.url, size)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    r = page.goto(server.url + "/stats")
    assert r.headers["content-security-policy"] == CSP  # the app's own, strict one
    page.wait_for_selector("body[data-charts-ready='3']")
    for chart in ("chart-violations", "chart-bays", "chart-heat"):
        box = page.locator(f"#{chart} canvas").first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 200, (chart, box)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= {"phone": 390, "laptop": 1366}[size]  # nothing wider than the screen
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    days = {r[0]: r for r in (row.split("\t") for row in page.locator("#table-days tbody tr").all_inner_texts())}
    assert days["2026-03-02"][1] == "2" and days["2026-03-03"][1] == "2"  # two violations on each of those days
    bays = [r.split("\t") for r in page.locator("#table-bays tbody tr").all_inner_texts()]
    assert [b[0] for b in bays] == ["A1", "A2"] and bays[1][2] == "-" and float(bays[0][2]) == 60.0  # 20 × 3 h
    shot(page, f"stats-{size}")
    with page.expect_download() as dl:
        page.click("#table-bays >> xpath=../../summary/a")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8-sig"))))
    assert [r["bay"] for r in rows] == ["A1", "A2"] and float(rows[0]["charging_s"]) == 60 * 3600
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    js = page.request.get(server.url + "/static/vendor/echarts/echarts.min.js")
    assert js.ok and js.headers["cache-control"] == "public, max-age=86400" and len(js.body()) > 900_000
    ctx.close()


# Every text ECharts drew on a chart's canvas, with its box in the chart's pixels (the canvas has no DOM to measure)
_TEXTS = """id => {
  const c = echarts.getInstanceByDom(document.getElementById(id));
  const out = [];
  c.getZr().storage.getDisplayList(true).forEach(e => {
    if (!e.style || typeof e.style.text !== 'string' || !e.style.text || e.invisible || e.ignore) { return; }
    const r = e.getBoundingRect().clone();
    if (e.transform) { r.applyTransform(e.transform); }
    out.push({text: e.style.text, x: r.x, y: r.y, w: r.width, h: r.height});
  });
  return {texts: out, width: c.getWidth(), height: c.getHeight()};
}"""


def _apart(a: dict, b: dict) -> bool:
    return a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"] or a["y"] + a["height"] <= b["y"] \
        or b["y"] + b["height"] <= a["y"]


@pytest.mark.parametrize("width", [375, 1366])
def test_the_legends_stay_clear_of_the_charts_and_take_the_keyboard(browser, server, width):  # noqa: F811
    """At 375 px the bay chart's legend (five entries) wrapped onto its axis name, the top tick and the bars, and on
    the violations chart the right axis name sat by the legend (newuser34). The legends are buttons above each
    canvas now: measured, each button lies above its canvas and inside the screen, no two overlap, and Enter on one
    hides its series. The axis names drawn on the canvas keep clear of every other text there."""
    ctx, page = login(browser, server.url, "phone" if width < 600 else "laptop")
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(server.url + "/stats")
    page.wait_for_selector("body[data-charts-ready='3']")
    for chart in ("chart-violations", "chart-bays"):
        names = page.get_attribute(f"#{chart}", "data-series").split("|")
        canvas = page.locator(f"#{chart} canvas").first.bounding_box()
        buttons = page.locator(f"#{chart} >> xpath=preceding-sibling::div[@class='chart-legend'][1]//button")
        boxes = [buttons.nth(i).bounding_box() for i in range(buttons.count())]
        assert len(boxes) >= 2 and all(b["width"] >= 24 and b["height"] >= 24 for b in boxes), (chart, boxes)
        for k, b in enumerate(boxes):
            assert b["y"] + b["height"] <= canvas["y"] and 0 <= b["x"] and b["x"] + b["width"] <= width, (chart, b)
            assert all(_apart(b, o) for o in boxes[k + 1:]), (chart, boxes)
        drawn = page.evaluate(_TEXTS, chart)
        assert not [t for t in drawn["texts"] if t["text"] in names], drawn  # no second legend in the canvas
        texts = [{**t, "width": t["w"], "height": t["h"]} for t in drawn["texts"]]
        for k, a in enumerate(texts):
            assert all(_apart(a, o) for o in texts[k + 1:]), (chart, width, a)
    first = page.locator("#chart-violations >> xpath=preceding-sibling::div[@class='chart-legend'][1]//button").first
    first.focus()
    page.keyboard.press("Enter")
    assert first.get_attribute("aria-pressed") == "false"
    name = first.inner_text().strip()
    shown = page.evaluate("n => echarts.getInstanceByDom(document.getElementById('chart-violations'))"
                          ".getOption().legend[0].selected[n]", name)
    assert shown is False
    ctx.close()
