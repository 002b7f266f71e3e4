"""The review page in a real headless Chromium (Debian's, driven by Playwright): what a manager and
an installer do, plus refusals for anonymous requests and POSTs without the CSRF token.
Screenshots of each page at phone and laptop size go to test-output/screenshots/."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from edge_agent.config import load_config
from edge_agent.control import ControlResult
from edge_agent.web.app import create_app
from edge_agent.web.server import WebServer
from tests.conftest import REPO
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = REPO / "test-output" / "screenshots"
SIZES = {"phone": (390, 844), "laptop": (1366, 768)}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def server(site):
    with WebServer(site.app(), "127.0.0.1", 0) as srv:
        yield srv


def login(browser, url: str, size: str = "laptop"):
    w, h = SIZES[size]
    ctx = browser.new_context(viewport={"width": w, "height": h}, device_scale_factor=1,
                              accept_downloads=True, locale="zh-CN")
    page = ctx.new_page()
    page.goto(url + "/violations")
    assert "/login" in page.url  # everything is behind the login
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(url + "/violations")
    return ctx, page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def image_ok(page, selector: str) -> bool:
    page.wait_for_selector(selector, state="attached")
    page.wait_for_function(f"(document.querySelector('{selector}') || {{}}).complete === true")
    return page.eval_on_selector(selector, "img => img.naturalWidth > 0 && img.naturalHeight > 0")


def test_manager_filters_opens_dismisses_and_exports(browser, server, site):
    ctx, page = login(browser, server.url)
    rows = page.locator("tr.row")
    assert rows.count() == 5  # page_size 5 of 7 violations, newest first
    assert page.locator("text=共 7 条").count() == 1
    assert rows.first.get_attribute("data-id") == "7"

    page.select_option("select[name=bay]", "A2")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**bay=A2**")
    bays = page.locator("tr.row td[data-label='车位']").all_inner_texts()
    assert bays == ["A2", "A2", "A2"]

    page.locator("tr.row[data-id='4'] td.pl a").click()
    page.wait_for_url(server.url + "/violations/4?list=bay%3DA2")  # the list it came from, for "back to list"
    assert image_ok(page, "#frame") and image_ok(page, "#crop")
    body = page.inner_text("main")
    assert "京A88888" in body and "黑名单" in body  # the verdict and why (deny-list)
    assert "2026-03-03 09:14:11" in body  # stored as 01:14:11 UTC, shown in Asia/Shanghai

    page.fill("#dismiss-reason", "车主已缴费")
    page.click("#dismiss")
    page.wait_for_selector(".badge.dismissed")
    v = site.log.get(4)
    assert (v.decision, v.decision_reason, v.decided_by) == ("dismissed", "车主已缴费", "admin")
    page.click("a.back")  # to the filtered list, not all of it: a manager working through one bay (newuser39)
    page.wait_for_url(server.url + "/violations?bay=A2")
    assert page.locator("tr.row td[data-label='车位']").all_inner_texts() == ["A2", "A2", "A2"]

    page.goto(server.url + "/violations?decision=dismissed")
    with page.expect_download() as dl:
        page.click("#export")
    text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["id"], r["plate"], r["decision"], r["decision_reason"]) for r in rows] == \
        [("4", "京A88888", "dismissed", "车主已缴费")]
    actions = [a["action"] for a in site.log.audit_entries()]
    assert {"login", "violation_dismissed", "export_csv"} <= set(actions)
    ctx.close()


def test_screenshots_list_and_detail(browser, server, site):
    anon = browser.new_page(viewport={"width": 390, "height": 844})
    anon.goto(server.url + "/login")
    shot(anon, "login-phone")
    anon.close()
    for size in SIZES:
        ctx, page = login(browser, server.url, size)
        shot(page, f"list-{size}")
        page.goto(server.url + "/violations/7")
        assert image_ok(page, "#frame")
        shot(page, f"detail-{size}")
        page.goto(server.url + "/bays")
        shot(page, f"bays-{size}")
        page.click("header.top button:has-text('English')")
        page.wait_for_selector("text=Live bays")
        page.goto(server.url + "/violations/4")
        assert "plate on the deny-list" in page.inner_text("main")
        shot(page, f"detail-en-{size}")
        ctx.close()


def test_installer_draws_a_bay_and_saves_it(browser, server, site):
    before = site.config_path.read_text(encoding="utf-8")
    for size in SIZES:
        ctx, page = login(browser, server.url, size)
        page.goto(server.url + "/installer")
        assert image_ok(page, "#snap")
        shot(page, f"installer-{size}")
        ctx.close()

    ctx, page = login(browser, server.url)
    page.goto(server.url + "/installer")
    assert image_ok(page, "#snap")
    page.click("#add-bay")
    page.fill("#bay-id", "B7")
    box = page.locator("#draw").bounding_box()
    sx, sy = box["width"] / 960, box["height"] / 540  # the canvas shows the 960x540 snapshot scaled
    corners = [(100, 40), (300, 40), (320, 220), (80, 220)]
    for x, y in corners:
        page.mouse.click(box["x"] + x * sx, box["y"] + y * sy)
    # move the last corner by dragging it
    page.mouse.move(box["x"] + 80 * sx, box["y"] + 220 * sy)
    page.mouse.down()
    page.mouse.move(box["x"] + 90 * sx, box["y"] + 250 * sy, steps=4)
    page.mouse.up()
    assert "B7 · 4" in page.inner_text("#bay-list")
    # a stray fifth corner: double-click deletes it; a touched corner goes with the button
    page.mouse.click(box["x"] + 500 * sx, box["y"] + 100 * sy)
    assert "B7 · 5" in page.inner_text("#bay-list")
    page.mouse.dblclick(box["x"] + 500 * sx, box["y"] + 100 * sy)
    assert "B7 · 4" in page.inner_text("#bay-list")
    page.mouse.click(box["x"] + 520 * sx, box["y"] + 120 * sy)
    page.click("#del-corner")
    assert "B7 · 4" in page.inner_text("#bay-list")
    shot(page, "installer-drawn-laptop")
    page.click("#save")
    page.wait_for_selector("#result.flash.ok")

    assert site.config_path.read_text(encoding="utf-8") == before  # the operator's file is only read
    saved = load_config(site.config_path).model_dump()  # the data dir's overrides merged over it
    b7 = next(b for b in saved["bays"] if b["id"] == "B7")
    expected = corners[:3] + [(90, 250)]
    assert all(abs(x - ex) <= 3 and abs(y - ey) <= 3 for (x, y), (ex, ey) in zip(b7["polygon"], expected))
    assert [b["id"] for b in saved["bays"]] == ["A1", "A2", "B7"]
    over = yaml.safe_load((site.root / "data" / "overrides.yaml").read_text(encoding="utf-8"))
    assert over["camera"] == {"width": 960, "height": 540}  # the size of the snapshot it was drawn on
    assert saved["bays"][0]["lock_id"] == "L1"  # untouched keys survive
    assert len(site.control.reloads) == 1 and [b.id for b in site.control.reloads[0].bays][-1] == "B7"

    # a bay with 2 corners is refused with check-config's message and the file stays as it was
    page.click("#add-bay")
    page.fill("#bay-id", "B8")
    page.mouse.click(box["x"] + 600 * sx, box["y"] + 40 * sy)
    page.mouse.click(box["x"] + 700 * sx, box["y"] + 40 * sy)
    page.click("#save")
    page.wait_for_selector("#result.flash.error")
    assert "bays[3].polygon: needs at least 3 points" in page.inner_text("#result")
    assert "B8" not in site.config_path.read_text(encoding="utf-8")
    assert [b.id for b in load_config(site.config_path).bays] == ["A1", "A2", "B7"]  # the overrides unchanged
    ctx.close()


def test_anonymous_requests_and_missing_csrf_are_refused(browser, server, site):
    anon = browser.new_context()
    eid = site.log.get(1).evidence_id
    for path in ("/violations", "/violations/1", "/violations.csv", "/bays", "/installer", "/audit",
                 f"/evidence/{eid}/frame.jpg"):
        r = anon.request.get(server.url + path, max_redirects=0)
        assert r.status in (303, 401), path
        assert eid not in r.text() and "粤B" not in r.text()
    r = anon.request.post(server.url + "/violations/1/decide", form={"decision": "confirmed"}, max_redirects=0)
    assert r.status == 401
    assert site.log.get(1).decision == "open"
    anon.close()

    ctx, page = login(browser, server.url)
    r = ctx.request.post(server.url + "/violations/1/decide", form={"decision": "confirmed"}, max_redirects=0)
    assert r.status == 403
    r = ctx.request.post(server.url + "/installer", data={"bays": []}, max_redirects=0)
    assert r.status == 403
    assert site.log.get(1).decision == "open"
    assert [b.id for b in load_config(site.config_path).bays] == ["A1", "A2"]
    # the same request with the page's token goes through
    token = page.get_attribute("input[name=csrf]", "value")
    r = ctx.request.post(server.url + "/violations/1/decide", form={"decision": "confirmed", "csrf": token},
                         max_redirects=0)
    assert r.status == 303 and site.log.get(1).decision == "confirmed"
    ctx.close()


def test_screenshots_of_real_agent_evidence(browser, recorded_agent):
    agent, log, clock = recorded_agent
    app = create_app(agent.cfg, agent.evidence, log, agent, agent.lists, agent.bus, clock, None)
    with WebServer(app, "127.0.0.1", 0) as srv:
        for size, (w, h) in SIZES.items():
            ctx = browser.new_context(viewport={"width": w, "height": h})
            page = ctx.new_page()
            page.goto(srv.url + "/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "agent-password")
            page.click("button[type=submit].primary")
            page.click("tr.row td.pl a")
            page.wait_for_url("**/violations/1")
            assert image_ok(page, "#frame") and image_ok(page, "#crop")
            shot(page, f"detail-agent-{size}")
            page.goto(srv.url + "/installer")
            assert image_ok(page, "#snap")
            shot(page, f"installer-agent-{size}")
            ctx.close()


def test_pages_work_under_the_strict_csp(browser, server, site):
    """Chromium enforces the page's Content-Security-Policy: nothing is refused, the installer's
    script (now a static file) draws the bays, and a missing crop is hidden by page.js. The moved camera's
    banner is shown too: its form's inline style attribute was refused."""
    site.control.camera_moved = True
    site.control.bays_unseen = lambda: {"A1": "camera_unmatched"}  # and a bay whose lock the view cannot vouch for
    ctx, page = login(browser, server.url)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: refused.append(str(e)))
    for path in ("/violations", "/violations/4", "/bays", "/audit"):
        page.goto(server.url + path)
        page.wait_for_load_state("load")
        if path == "/bays":
            assert page.locator(".bay-unseen").all_inner_texts() == ["摄像头画面与参考画面对不上"]
    page.goto(server.url + "/violations/3")  # unidentified: no plate crop was stored
    page.wait_for_load_state("load")
    page.wait_for_function("getComputedStyle(document.querySelector('#crop')).display === 'none'")
    page.goto(server.url + "/installer")
    page.wait_for_selector("#bay-list li")
    assert page.locator("#bay-list li").all_inner_texts() == ["A1 · 4 角点", "A2 · 4 角点"]
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';"
                  " document.body.appendChild(s); }")  # what an injection would try
    assert page.evaluate("() => window.pwned") is None and any("inline script" in r for r in refused)
    assert [r for r in refused if "inline script" not in r] == []
    ctx.close()


def test_a_stale_tab_cannot_overturn_a_decision(browser, server, site):
    """Two tabs (or two managers) on one violation: one dismisses with a reason, the other, still showing
    "open", clicks confirm. Before, the confirm silently replaced the dismissal and its reason; a double
    submit recorded the same decision twice. Now the later click changes nothing and says what stands."""
    ctx, first = login(browser, server.url)
    second = ctx.new_page()
    first.goto(server.url + "/violations/2")
    second.goto(server.url + "/violations/2")
    first.fill("#dismiss-reason", "充电卡已出示")
    first.click("#dismiss")
    first.wait_for_selector(".badge.dismissed")
    second.click("#confirm")
    second.wait_for_selector(".flash.error")
    assert "已被 admin 处理为「已驳回」" in second.inner_text(".flash.error")
    assert second.locator(".detail-head .badge.dismissed").count() == 1  # the page now shows what stands
    v = site.log.get(2)
    assert (v.decision, v.decision_reason) == ("dismissed", "充电卡已出示")
    assert [d["decision"] for d in site.log.decisions(2)] == ["dismissed"]
    ctx.close()


def test_a_save_the_agent_refuses_to_reload_is_not_shown_as_applied(browser, server, site, monkeypatch):
    """The Save wrote the bays and the agent refused the reload (a lock change in the config waiting for a restart,
    models it cannot load): the page said, in green, "Saved; the agent is reloading (lock changes need a restart,
    kept the running config)", which the installer read as done while the old bays ran on."""
    refusal = "lock changes need a restart, kept the running config"
    monkeypatch.setattr(site.control, "reload_config", lambda **_: ControlResult(False, refusal))
    ctx, page = login(browser, server.url)
    page.goto(server.url + "/installer")
    page.click("#save")
    page.wait_for_selector("#result.flash.error")
    assert page.inner_text("#result") == f"已保存，但运行中的代理未能应用: {refusal}"
    ctx.close()


def test_the_installer_corrects_one_bay_over_a_drifted_view_and_the_others_keep_their_place(browser, tmp_path, clock):
    """The real agent, its view drifted 16 px (within tolerance): the page draws the bays where the agent places
    them, the installer drags one corner of bay A, and the Save writes bay B where its lines are in this picture
    (the new reference), not where it was drawn on the old one (16.2 px off before)."""
    from edge_agent.sim.synthetic import BAY_A, BAY_B, render
    from tests.web.test_installer_shift import DX, DY, PARKED, _agent, _off, _on_lines, shifted

    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), DX, DY))
    try:
        with WebServer(parts.web.app, "127.0.0.1", 0) as srv:
            ctx, page = login(browser, srv.url)
            page.goto(srv.url + "/installer")
            assert image_ok(page, "#snap")
            assert page.locator(".camera-followed").count() == 1
            shot(page, "installer-drifted-laptop")
            box = page.locator("#draw").bounding_box()
            sx, sy = box["width"] / 960, box["height"] / 540
            (x, y), to = _on_lines(BAY_A)[3], (50.0, 500.0)  # bay A (selected first): its bottom-left corner
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy)
            page.mouse.down()
            page.mouse.move(box["x"] + to[0] * sx, box["y"] + to[1] * sy, steps=4)
            page.mouse.up()
            page.click("#save")
            page.wait_for_selector("#result.flash.ok")
            ctx.close()
        saved = {b["id"]: b["polygon"] for b in yaml.safe_load(
            (tmp_path / "data" / "overrides.yaml").read_text(encoding="utf-8"))["bays"]}
        assert _off(saved["A"][3:], [to]) < 2.0 and _off(saved["A"][:3], _on_lines(BAY_A)[:3]) < 2.0, saved["A"]
        assert _off(saved["B"], _on_lines(BAY_B)) < 2.0, saved["B"]
    finally:
        parts.agent.stop()


def test_a_save_after_the_camera_was_knocked_since_the_picture_says_so_and_keeps_the_drawing(browser, tmp_path, clock):
    """The page drew on a picture in place; the camera was knocked 60 px before Save: nothing is written and the
    page says, in its language, to draw on the current picture (not "invalid config")."""
    from edge_agent.sim.scenario import run_scripted
    from edge_agent.sim.synthetic import render
    from tests.web.test_installer_shift import DX, DY, PARKED, _agent, shifted

    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), DX, DY), shifted(render(PARKED), 60, 0))
    try:
        with WebServer(parts.web.app, "127.0.0.1", 0) as srv:
            ctx, page = login(browser, srv.url)
            page.goto(srv.url + "/installer")
            assert image_ok(page, "#snap")
            run_scripted(parts.agent.step, clock, 6, 5)
            assert parts.agent.camera_moved
            page.click("#save")
            page.wait_for_selector("#result.flash.error")
            assert page.inner_text("#result") == "未保存：拍摄此画面后摄像头已移动。请拍新画面（画线保留），对照新画面调整后保存。"
            assert "A · 4" in page.inner_text("#bay-list")  # the drawing is still on the page
            ctx.close()
        assert not (tmp_path / "data" / "overrides.yaml").exists()
    finally:
        parts.agent.stop()


def test_after_a_refused_save_a_new_picture_keeps_the_drawing_and_the_save_is_on_it(browser, tmp_path, clock):
    """A Save refused because the camera was knocked since the picture (409 ``view_moved``; ``stale`` and an ended
    session alike) kept the drawing on the page, but saving needed a reload, and the reload lost it: every bay to
    draw again. Now "take a new picture, keep my drawing" reloads with the drawing put back on the new picture, and
    the Save names that picture (the 409 rule unchanged): it is written as drawn, the corrections in it kept."""
    from edge_agent.sim.scenario import run_scripted
    from edge_agent.sim.synthetic import BAY_A, render
    from tests.web.test_installer_shift import DX, DY, PARKED, _agent, _off, _on_lines, shifted

    parts, _ = _agent(tmp_path, clock, shifted(render(PARKED), DX, DY), shifted(render(PARKED), 60, 0))
    try:
        with WebServer(parts.web.app, "127.0.0.1", 0) as srv:
            ctx, page = login(browser, srv.url)
            page.goto(srv.url + "/installer")
            assert image_ok(page, "#snap") and page.locator("#new-picture").is_hidden()
            first = page.get_attribute("#snap", "src")
            box = page.locator("#draw").bounding_box()
            sx, sy = box["width"] / 960, box["height"] / 540
            (x, y), to = _on_lines(BAY_A)[3], (50.0, 500.0)  # the installer's correction: bay A's bottom-left corner
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy)
            page.mouse.down()
            page.mouse.move(box["x"] + to[0] * sx, box["y"] + to[1] * sy, steps=4)
            page.mouse.up()
            run_scripted(parts.agent.step, clock, 6, 5)  # the camera knocked 60 px meanwhile
            assert parts.agent.camera_moved
            page.click("#save")
            page.wait_for_selector("#result.flash.error")
            assert not (tmp_path / "data" / "overrides.yaml").exists()
            with page.expect_navigation():
                page.click("#new-picture")
            assert image_ok(page, "#snap") and page.get_attribute("#snap", "src") != first  # a new picture
            assert page.locator("#kept").is_visible()
            assert page.locator(".camera-moved").count() == 1
            shot(page, "installer-drawing-kept-laptop")
            page.click("#save")
            page.wait_for_selector("#result.flash.ok")
            run_scripted(parts.agent.step, clock, 1, 5)  # the reloaded agent's first frame: a picture to take
            page.reload()  # the drawing was put back once: the page now shows what was saved, without the note
            assert image_ok(page, "#snap") and page.locator("#kept").is_hidden()
            ctx.close()
        saved = {b["id"]: b["polygon"] for b in yaml.safe_load(
            (tmp_path / "data" / "overrides.yaml").read_text(encoding="utf-8"))["bays"]}
        assert _off(saved["A"][3:], [to]) < 2.0, saved["A"]  # the correction, kept across the new picture
        assert _off(saved["A"][:3], _on_lines(BAY_A)[:3]) < 2.0, saved["A"]  # the rest as drawn, not redrawn
    finally:
        parts.agent.stop()


def test_a_manager_signs_in_over_the_pages_own_https(browser, site, tmp_path):
    """``web.tls``: the login page over HTTPS in the browser (a self-signed certificate, accepted as a manager
    accepts it once), its cookies marked Secure, the page a secure context."""
    from tests.web.test_tls import https_site, make_cert

    with https_site(site, make_cert(tmp_path / "tls")) as srv:
        ctx = browser.new_context(ignore_https_errors=True, locale="zh-CN")
        page = ctx.new_page()
        page.goto(srv.url + "/violations")
        assert page.url.startswith("https://") and "/login" in page.url
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(srv.url + "/violations")
        assert page.locator("tr.row").count() == 5
        assert page.evaluate("window.isSecureContext")
        cookies = {c["name"]: c for c in ctx.cookies()}
        assert cookies["edge_session"]["secure"] and cookies["edge_known"]["secure"]
        page.goto(srv.url + "/violations/7")
        assert image_ok(page, "#frame")  # the evidence picture comes over the same HTTPS
        ctx.close()


@pytest.mark.parametrize("act", ["confirm", "save"])
def test_a_camera_replaced_while_the_agent_was_stopped_is_named_on_the_live_page_and_the_installer_can_act(
        browser, tmp_path, clock, act):
    """A camera replaced while the agent was stopped, the bays as they were: its view matches no reference
    (``camera_unmatched``), every lock stays down. The live page said only "matches no reference" under each bay: no
    banner, no Confirm, no word of the installer page, and the installer page's Save of the outlines as shown (what
    its own note asks) changed nothing. Now the banner says what happened and where to act, and either act — Confirm
    current view, or the installer page's Save — takes the current view as the bays' reference, signed in, with
    the CSRF token, audited."""
    from edge_agent.sim.scenario import run_scripted
    from tests.web.test_installer_shift import replaced

    parts = replaced(tmp_path, clock)
    try:
        assert set(parts.agent.bays_unseen().values()) == {"camera_unmatched"} and not parts.agent.camera_moved
        with WebServer(parts.web.app, "127.0.0.1", 0) as srv:
            ctx, page = login(browser, srv.url)
            page.goto(srv.url + "/bays")
            banner = page.locator(".flash.camera-unmatched")
            assert banner.count() == 1 and banner.get_attribute("role") == "alert"
            assert "安装页" in banner.inner_text() and page.locator(".camera-moved").count() == 0
            shot(page, f"live-unmatched-{act}-laptop")
            if act == "confirm":
                # a form post redirected to the URL the page has: wait_for_url alone can return on the old page
                with page.expect_navigation(url=srv.url + "/bays"):
                    banner.locator("button[type=submit]").click()
                assert page.locator(".flash.error").count() == 0  # no error flash: confirmed
            else:
                banner.locator("a[href='/installer']").click()
                page.wait_for_url(srv.url + "/installer")
                assert image_ok(page, "#snap") and page.locator(".flash.camera-unmatched").count() == 1
                page.click("#save")
                page.wait_for_selector("#result.flash.ok")
            run_scripted(parts.agent.step, clock, 3, 5)
            page.goto(srv.url + "/bays")
            assert page.locator(".flash.camera-unmatched").count() == 0
            assert page.locator(".bay-unseen").count() == 0
            ctx.close()
        assert parts.agent.camera.placement == "ok" and parts.agent.bays_unseen() == {}
        actions = [a["action"] for a in parts.web.app.state.ctx.log.audit_entries()]
        assert ("camera_confirm" if act == "confirm" else "save_bays") in actions
    finally:
        parts.agent.stop()


def test_when_the_audit_cannot_be_written_the_live_bays_go_on_and_the_photos_are_refused_with_a_reason(
        browser, server, site):
    """The audit log read-only (a card gone read-only): the live bays and their locks as always, no bay's plate or
    picture (a look is shown only audited) and a line saying why, a violation's page a 503 in the user's language;
    a 500 before."""
    ctx, page = login(browser, server.url)
    site.log._db.execute("PRAGMA query_only=ON")
    try:
        page.goto(server.url + "/bays")
        assert page.locator("section.bay").count() == 2 and "升起" in page.inner_text("section.bay:has-text('A1')")
        assert page.locator("img.snap").count() == 0 and page.locator(".bays-private").count() == 1
        shot(page, "bays-audit-unwritable")
        response = page.goto(server.url + "/violations/1")
        assert response.status == 503 and "审计日志无法写入" in page.inner_text("main")
        assert "粤B12345" not in page.content()
        shot(page, "detail-audit-unwritable")
    finally:
        site.log._db.execute("PRAGMA query_only=OFF")
    page.goto(server.url + "/violations/1")
    assert image_ok(page, "#frame")
    ctx.close()


def test_when_the_audit_cannot_be_written_the_installer_page_says_so_in_the_users_words(browser, server, site):
    """The audit log read-only under an open installer page: its Save said "未保存: 503 Service Unavailable" (the
    status line, in English, no reason) and a reload opened the page with a broken picture and no word why. Now the
    Save shows the error page's words in the page's language and keeps the drawing; the page is that error page."""
    ctx, page = login(browser, server.url)
    page.goto(server.url + "/installer")
    site.log._db.execute("PRAGMA query_only=ON")
    try:
        page.click("#save")
        page.wait_for_selector("#result.flash.error")
        assert page.inner_text("#result").startswith("审计日志无法写入，未执行: 每项操作")
        site.clock.advance(601)  # the page's next look opens a new audit row
        response = page.goto(server.url + "/installer")
        assert response.status == 503 and response.headers["retry-after"] == "60"
        assert "审计日志无法写入" in page.inner_text("main") and page.locator("img").count() == 0
        shot(page, "installer-audit-unwritable")
    finally:
        site.log._db.execute("PRAGMA query_only=OFF")
    ctx.close()


def test_a_save_past_the_rate_says_so_in_the_pages_language_and_keeps_the_drawing(browser, server, site):
    """The installer's Save past the camera rate (``web/ratelimit.py``) showed "未保存: 429 Too Many Requests": the
    browser's English status text, no word of when to try again, and the drawing was not kept for a reload. Now it
    shows the refusal's words in the page's language, with the seconds to wait, and keeps the drawing."""
    from edge_agent.web.ratelimit import RATES

    ctx, page = login(browser, server.url)
    page.goto(server.url + "/installer")
    for _ in range(int(RATES["camera"].burst) - 1):  # the same browser (its cookie, its address) uses up the rest
        assert page.request.get(server.url + "/installer").status == 200
    page.click("#save")
    page.wait_for_selector("#result.flash.error")
    said = page.inner_text("#result")
    assert said.startswith("请求过于频繁: ") and "2 秒后再试" in said and "429" not in said, said
    assert page.evaluate("sessionStorage.length") == 1  # the drawing, put back at the next load
    assert site.control.reloads == []
    ctx.close()


def test_a_photo_retention_deletes_between_the_page_and_the_picture_is_said_gone(browser, server, site):
    """Retention pruning while the review page loads: the page named the photo, its file went before the browser
    asked for it (a 404). Before, a broken picture and no word; now the line that says it is gone (probe chaos43)."""
    ctx, page = login(browser, server.url)
    v = site.log.get(1)
    assert v is not None and v.evidence_id
    path = site.store.image_path(v.evidence_id)
    assert path is not None and path.is_file()

    def prune_then_fetch(route):  # noqa: ANN001, ANN202 - the sweep runs between the page and its picture
        path.unlink(missing_ok=True)
        route.continue_()

    page.route(f"**/evidence/{v.evidence_id}/frame.jpg", prune_then_fetch)
    page.goto(server.url + "/violations/1")
    page.wait_for_selector("#photo-gone")
    assert page.locator("#frame").count() == 0 and "设备上没有这张照片" in page.inner_text("#photo-gone")
    ctx.close()


def test_a_photo_refused_for_the_rate_is_not_said_gone(browser, server, site):
    """The picture's request refused for the rate (429: reviewers behind one address, the live page's pictures
    every 15 s), not missing: before, the page replaced it with "not on the device (deleted by retention …)", and
    a reviewer deciding on the violation was told its evidence was gone (probe review107). It stays a broken
    picture, the status kept on it; a 404 still says gone (the retention test above)."""
    ctx, page = login(browser, server.url)
    v = site.log.get(1)
    assert v is not None and v.evidence_id
    page.route(f"**/evidence/{v.evidence_id}/frame.jpg",
               lambda route: route.fulfill(status=429, body="too many requests"))  # fmt: skip
    page.goto(server.url + "/violations/1")
    page.wait_for_selector('#frame[data-load-failed="429"]')
    assert page.locator("#photo-gone").count() == 0
    ctx.close()
