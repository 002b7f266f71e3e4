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


@pytest.mark.parametrize(("before", "after", "said", "not_said"), [
    (1.0, 1.0, "一样好", "更好"), (0.9773, 0.97731, "一样好", "更好"),  # 97.7% -> 97.7% is not "better" either
    (0.95, 0.99, "更好", "一样好")])
def test_a_fit_that_does_as_well_is_not_called_better(browser, server, monkeypatch, before, after,  # noqa: F811
                                                      said, not_said):
    """On a real agent whose classifier already read every labelled bay right, the page said "校准结果更好" (does
    better) under "100% → 100%": a usable fit is one that is not worse, and the page says which it is."""
    result = {"job": 1, "state": "done", "frames": 12, "occupied": 11, "empty": 13, "before": before, "after": after,
              "recall_before": 1.0, "recall_after": 1.0, "worse": False, "fewer_cars": False, "usable": True,
              "skipped": 0}
    monkeypatch.setattr(server.app.state.ctx.teach, "status",
                        lambda: dict(result))
    ctx, page = login(browser, server.url)
    page.goto(server.url + "/installer/teach")
    page.wait_for_selector("#teach-result.ok")
    text = page.locator("#teach-result").inner_text()
    assert said in text and not_said not in text, text
    assert page.locator("#teach-use").is_visible()
    ctx.close()


def test_an_installer_goes_back_to_the_previous_calibration_and_then_to_the_shipped_model(  # noqa: F811
        browser, server, teach_site):  # noqa: F811
    """The way back from "Use it", clicked: the calibration before (kept by "Use it") and the shipped model, each
    after a confirmation, each reloading the agent; the buttons follow what can be gone back to."""
    import yaml

    from edge_agent.bays.calibration import SiteCalibration, file_sha256
    from edge_agent.bays.classifier import SITE_MODEL, BayClassifier
    from edge_agent.clock import FakeClock
    from edge_agent.config.configfile import ConfigFile

    head = BayClassifier.load(SITE_MODEL).head()
    data_dir = Path(teach_site.cfg.data_dir)
    current, previous = data_dir / "occupancy-calibration.json", data_dir / "occupancy-calibration.previous.json"
    for path, bias in ((current, head.b + 0.5), (previous, head.b)):  # as two "Use it" left them
        SiteCalibration(type(head)(head.w, bias), file_sha256(SITE_MODEL), 10, 10, 0.9, 0.95,
                        model=SITE_MODEL.name).save(path)
    ConfigFile(teach_site.config_path, FakeClock()).set_occupancy("occupancy-site.onnx", "occupancy-calibration.json")
    used, kept = current.read_bytes(), previous.read_bytes()

    ctx, page = login(browser, server.url)
    page.on("dialog", lambda d: d.accept())
    page.goto(server.url + "/installer/teach")
    assert page.locator("#teach-back").is_visible() and page.locator("#teach-shipped").is_visible()
    page.click("#teach-back")
    page.wait_for_selector("#teach-result.ok")
    assert "上一个校准已启用" in page.locator("#teach-result").inner_text()
    assert current.read_bytes() == kept and previous.read_bytes() == used
    page.click("#teach-shipped")
    page.wait_for_selector("#teach-shipped", state="hidden")
    assert "出厂模型已启用" in page.locator("#teach-result").inner_text()
    over = yaml.safe_load((data_dir / "overrides.yaml").read_text(encoding="utf-8"))
    assert "occupancy" not in over
    assert page.locator("#teach-back").is_visible()  # the calibration just left can be put back
    shot(page, "teach-way-back")
    ctx.close()


def test_a_bay_the_camera_shows_nothing_of_is_greyed_out_and_the_frame_is_added(browser, teach_site):  # noqa: F811
    """A bay behind a flat grey (a pillar's side, glare): its button is disabled and "Add this frame" sends the other
    bays' flags, which the server takes (until probe calib42 it asked a flag for every bay: nothing could be added)."""
    from tests.web.test_teach import PillarOverB, scenes

    teach_site.control = PillarOverB(teach_site, scenes(3))
    with WebServer(teach_site.app(), "127.0.0.1", 0) as srv:
        ctx, page = login(browser, srv.url)
        page.goto(srv.url + "/installer/teach")
        assert image_ok(page, "#snap")
        assert page.locator("#teach-bays button[data-bay=B]").is_disabled()
        page.click("#teach-add")
        page.wait_for_selector("#teach-result.ok, #teach-result.error")
        said = page.locator("#teach-result")
        assert "ok" in said.get_attribute("class"), said.inner_text()
        labels = Path(teach_site.cfg.data_dir) / "labels" / "labels.csv"
        assert [r["bay_id"] for r in csv.DictReader(labels.open(encoding="utf-8"))] == ["A"]
        ctx.close()


@pytest.mark.parametrize(("lang", "few", "english"), [
    ("zh", "有车 1 个、空闲 1 个", False), ("en", "1 occupied and 1 empty", True)])
def test_calibrate_waits_for_enough_labels_and_a_refused_fit_is_said_in_the_page_s_language(
        browser, server, teach_site, lang, few, english):  # noqa: F811
    """The Calibrate button could be clicked before there were enough labels, and a fit's refusal reached the
    Chinese page as the fit's English ("无法校准：need at least 10 occupied and 10 empty labelled bays, …")."""
    from tests.web.test_teach import label_all, logged_in

    ctx, page = login(browser, server.url)
    if lang == "en":
        with page.expect_navigation():
            page.click("header.top form[action='/lang'] button")
    page.goto(server.url + "/installer/teach")
    assert image_ok(page, "#snap")
    assert page.locator("#teach-calibrate").is_disabled()  # nothing labelled yet
    page.click("#teach-add")
    page.wait_for_selector("#teach-result.ok")
    assert page.locator("#teach-calibrate").is_disabled()  # 1 occupied and 1 empty: still too few

    teach = server.app.state.ctx.teach  # the fit as the server runs it, on these labels
    teach.start(teach_site.cfg)
    assert teach.wait(300)
    page.reload()
    page.wait_for_selector("#teach-result.error")
    said = page.locator("#teach-result").inner_text()
    assert few in said and "10" in said, said
    assert ("need at least" in said) == english, said  # the fit's own English only on the English page
    assert page.locator("#teach-calibrate").is_disabled()

    client, _ = logged_in(teach_site, "sam", "installer")
    label_all(teach_site, client, 14)  # enough of each, over the day
    page.reload()
    page.wait_for_selector("#teach-counts:not(:empty)")
    assert page.locator("#teach-calibrate").is_enabled(), page.locator("#teach-counts").inner_text()
    ctx.close()
