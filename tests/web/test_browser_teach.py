"""The installer's "teach this camera" in a real headless Chromium: a click on a bay flips the classifier's guess,
"Add this frame" stores it as labels (the rendered camera and shipped model of tests/web/test_teach.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from edge_agent.sim.synthetic import BAY_A
from edge_agent.web.server import WebServer
from tests.web.test_browser import browser, image_ok, login, shot  # noqa: F401  (fixture)
from tests.web.test_teach import teach_site  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def server(teach_site):  # noqa: F811, ANN001, ANN201
    with WebServer(teach_site.app(), "127.0.0.1", 0) as srv:
        yield srv


def test_an_installer_clicks_a_bay_to_correct_it_and_adds_the_frame(browser, server, teach_site):  # noqa: F811
    ctx, page = login(browser, server.url)
    page.goto(server.url + "/installer")
    page.click("#teach-link")
    page.wait_for_url(server.url + "/installer/teach")
    assert image_ok(page, "#snap")
    button = page.locator("#teach-bays button[data-bay=A]")
    guessed = button.get_attribute("aria-pressed")
    assert guessed == "true"  # the first rendered scene has a car in A: the shipped model sees it

    box = page.locator("#teach-draw").bounding_box()
    cx, cy = sum(x for x, _ in BAY_A) / 4, sum(y for _, y in BAY_A) / 4
    page.mouse.click(box["x"] + cx * box["width"] / 960, box["y"] + cy * box["height"] / 540)
    assert button.get_attribute("aria-pressed") == "false"  # the click flipped it (a wrong label, on purpose)
    page.click("#teach-add")
    page.wait_for_selector("#teach-result.ok")
    assert "1" in page.locator("#teach-counts").inner_text()
    assert page.locator("#teach-add").is_disabled()  # this picture is labelled: the next is another
    shot(page, "teach-laptop")

    labels = Path(teach_site.cfg.data_dir) / "labels" / "labels.csv"
    rows = {r["bay_id"]: r for r in csv.DictReader(labels.open(encoding="utf-8"))}
    assert rows["A"]["occupied"] == "0" and float(rows["A"]["p_occupied"]) > 0.5  # the installer's word, not p
    assert rows["B"]["occupied"] == "0"
    ctx.close()
