"""The review page for a keyboard, a screen reader, weak eyes and a phone, in a real headless Chromium. Each check
is computed here from what the browser renders (roles, names, computed colours, boxes): no axe, no network.

Property managers review on a phone (WeChat's browser, 360 px wide), some by keyboard or with a screen reader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_agent.clock import iso
from edge_agent.events.types import BayState, Event, EventType
from edge_agent.web.server import WebServer
from tests.web.conftest import PASSWORD, publish_visit
from tests.web.test_browser import browser, image_ok, login, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser
PAGES = ("/violations", "/violations/4", "/bays", "/installer", "/stats", "/audit")
PHONES = {"360x640": (360, 640, 1), "390x844": (390, 844, 1), "zoom-200%": (640, 400, 2)}

# WCAG 2.x relative luminance and contrast; a colour is blended over what is behind it (alpha, opacity), a
# gradient counts by its worst stop.
COLOUR_JS = r"""
window.a11y = (() => {
  function rgb(s) { const m = (s || "").match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
  function lum(c) { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); }
  function blend(top, bot) { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + bot[i] * (1 - a)).concat([1]); }
  function ratio(a, b) { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  function backgrounds(el) {  // every colour the element's box may show behind its text
    const chain = []; for (let e = el; e; e = e.parentElement) chain.unshift(e);
    let base = [[255, 255, 255, 1]];
    for (const e of chain) {
      const cs = getComputedStyle(e), stops = (cs.backgroundImage.match(/rgba?\([^)]+\)/g) || []).map(rgb);
      if (stops.length) base = base.flatMap(b => stops.map(s => blend(s, b)));
      else { const c = rgb(cs.backgroundColor); if (c && c[3] > 0) base = base.map(b => blend(c, b)); }
    }
    return base;
  }
  function opacity(el) { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; }
  function worst(fg, el) { const o = opacity(el); return Math.min(...backgrounds(el).map(b => ratio(blend([fg[0], fg[1], fg[2], fg[3] * o], b), b))); }
  function visible(el) { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden"; }
  function describe(el) { return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className} '${(el.innerText || el.value || "").trim().slice(0, 20)}'`; }
  return {
    textContrast() {  // [description, ratio] of each text below AA (4.5, large text 3)
      const out = [], seen = new Set(), walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      while (walk.nextNode()) {
        const el = walk.currentNode.parentElement;
        if (!walk.currentNode.textContent.trim() || seen.has(el) || !visible(el) || el.closest(":disabled")) continue;
        seen.add(el);
        const cs = getComputedStyle(el), size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
        const r = worst(rgb(cs.color), el);
        if (r < ((size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5)) out.push([describe(el), +r.toFixed(2)]);
      }
      document.querySelectorAll("input[placeholder]").forEach(i => {
        const r = worst(rgb(getComputedStyle(i, "::placeholder").color), i);
        if (r < 4.5) out.push([describe(i) + " placeholder", +r.toFixed(2)]);
      });
      return out;
    },
    focusIndicator() {  // the focused control's outline: [description, style, width px, contrast against its surroundings]
      const el = document.activeElement; if (!el || el === document.body) return null;
      const cs = getComputedStyle(el), around = el.parentElement || el;
      const c = rgb(cs.outlineColor);
      return [describe(el), cs.outlineStyle, parseFloat(cs.outlineWidth), +Math.min(...backgrounds(around).map(b => ratio(blend(c, b), b))).toFixed(2)];
    },
    fieldBorders() {  // a text box or list box is seen by its border alone: WCAG 1.4.11 wants 3:1
      return [...document.querySelectorAll("input:not([type=hidden]), select")].filter(visible).map(i => {
        const c = rgb(getComputedStyle(i).borderTopColor);
        return [describe(i), +Math.min(...backgrounds(i.parentElement).map(b => ratio(blend(c, b), b))).toFixed(2)];
      }).filter(x => x[1] < 3);
    },
    clickable() {  // what a pointer can act on: links, controls, and anything drawn with a hand cursor
      return [...document.querySelectorAll("body *")].filter(e => visible(e) && (e.matches("a[href], button, input:not([type=hidden]), select, summary")
        || (getComputedStyle(e).cursor === "pointer" && !e.parentElement.closest("a[href], button, summary, [tabindex]"))
      )).map(describe);
    },
    describe,
  };
})();
"""


def open_page(chromium, url: str, size=(1366, 768, 1)):
    """A signed-in admin's page at that viewport (width, height, device scale), with the checks above loaded."""
    w, h, dsf = size
    ctx = chromium.new_context(viewport={"width": w, "height": h}, device_scale_factor=dsf, locale="zh-CN",
                               accept_downloads=True)
    ctx.add_init_script(COLOUR_JS)
    page = ctx.new_page()
    page.goto(url + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(url + "/violations")
    return ctx, page


def tab_stops(page, limit: int = 80) -> list[str]:
    """Tab from the top of the page until focus comes round again (no trap: it must)."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    stops: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        here = page.evaluate("document.activeElement === document.body ? null : a11y.describe(document.activeElement)")
        if stops and here == stops[0]:
            return stops
        if here is not None:
            stops.append(here)
    raise AssertionError(f"focus never came back to the top after {limit} tabs: {stops[-5:]}")


@pytest.fixture
def nev(site):
    """A green NEV plate on bay A2 and a green-plate violation (overstay): where colour speaks for the plate."""
    publish_visit(site, "A2", "粤BD12345", "green", True, "format+colour", "overstay")
    site.bus.publish_state(BayState("A2", "identified", iso(site.clock.now()), "v-nev", "粤BD12345", "green", True,
                                    "format+colour", lock=None))
    return len(site.ids)


def test_every_action_is_reachable_by_tab_with_a_visible_focus_and_no_trap(browser, server, site):  # noqa: F811
    """Every link and control, and everything the page draws with a hand cursor, is a tab stop; each shows a
    focus outline of at least 2 px at 3:1 against what is around it (WCAG 2.4.7, 1.4.11). Before: the installer's
    bay list (click to select a bay) was out of the tab order, and the focus rings were the browser's own
    1 px #101010 (1.5:1 on the dark header) and the text boxes' #99d5cc (1.65:1 on white)."""
    site.control.camera_moved = True
    ctx, page = open_page(browser, server.url)
    weak: list = []
    for path in PAGES:
        page.goto(server.url + path)
        page.wait_for_load_state("load")
        clickable = page.evaluate("a11y.clickable()")
        stops = tab_stops(page)
        assert set(clickable) <= set(stops), (path, sorted(set(clickable) - set(stops)))
        page.evaluate("document.activeElement.blur()")
        for _ in stops:
            page.keyboard.press("Tab")
            here = page.evaluate("a11y.focusIndicator()")
            if here is None:  # the browser's own controls between the page's last stop and its first
                continue
            what, style, width, contrast = here
            if style in ("none", "auto") or width < 2 or contrast < 3:
                weak.append((path, what, style, width, contrast))
    assert weak == []
    ctx.close()


def test_a_manager_reviews_by_keyboard_alone(browser, server, site):  # noqa: F811
    """Sign in, filter, open a violation, dismiss it with a reason, export, skip the menu, and select a bay on the
    installer page, with Tab / Enter / Space only. Before: no way past the menu's eight stops on every page, and the
    installer's bays could be selected with a pointer only."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", accept_downloads=True)
    ctx.add_init_script(COLOUR_JS)
    page = ctx.new_page()

    def tab_to(selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    page.goto(server.url + "/violations")
    # the user name has the focus (autofocus), applied after the load: typing before it went nowhere on a busy CI
    page.wait_for_function("document.activeElement && document.activeElement.name === 'username'")
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/violations")

    tab_to("input[name=plate]")
    page.keyboard.type("京A")
    page.keyboard.press("Enter")
    page.wait_for_url("**plate=**")
    assert page.locator("tr.row").count() == 1
    tab_to("tr.row td.pl a")
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/violations/4?list=**")

    tab_to("#dismiss-reason")
    page.keyboard.type("车主已缴费")
    tab_to("#dismiss")
    page.keyboard.press("Space")
    page.wait_for_selector(".badge.dismissed")
    assert site.log.get(4).decision == "dismissed"

    page.goto(server.url + "/violations")
    tab_to("#export")
    with page.expect_download() as dl:
        page.keyboard.press("Enter")
    assert "京A88888" in Path(dl.value.path()).read_text(encoding="utf-8-sig")

    page.goto(server.url + "/violations/4")  # the first tab stop skips the menu (WCAG 2.4.1), shown while focused
    page.keyboard.press("Tab")
    skip = page.evaluate("(() => { const r = document.activeElement.getBoundingClientRect();"
                         " return [document.activeElement.getAttribute('href'), r.top >= 0 && r.bottom <= innerHeight]; })()")
    assert skip == ["#main", True]
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")

    page.goto(server.url + "/installer")
    page.wait_for_selector("#bay-list li")
    tab_to("#bay-list :is(button, li)")
    page.keyboard.press("Tab")  # the second bay
    page.keyboard.press("Enter")
    assert page.input_value("#bay-id") == "A2"
    assert page.get_attribute("#bay-list li:nth-child(2) button", "aria-pressed") == "true"
    ctx.close()


def test_headings_names_and_language_for_a_screen_reader(browser, server, site):  # noqa: F811
    """One h1 per page, the current page marked in the menu, the language switch's word marked as the other
    language, messages in live regions, every field a <label>. Before: five of the seven pages had no h1, the menu said which page was
    current by a background colour only, "English" was read with Chinese rules, neither the flash after a
    decision nor the moved camera's banner had a role (read only when the reader happened to reach them), the brand
    was read "high voltage sign", and the dismissal's reason had only its placeholder for a label."""
    site.control.camera_moved = True
    for lang, other in (("zh", "en"), ("en", "zh-CN")):
        ctx, page = open_page(browser, server.url)
        if lang == "en":
            page.click("header.top button:has-text('English')")
            page.wait_for_selector("html[lang=en]")
        for path in PAGES + ("/violations/99999",):
            page.goto(server.url + path)
            page.wait_for_load_state("load")
            assert page.get_by_role("heading", level=1).count() == 1, path
            assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
            assert page.get_attribute("header.top form[action='/lang'] button", "lang") == other
            assert "⚡" not in page.locator("header.top").aria_snapshot()  # not read out as "high voltage sign"
            unlabelled = page.evaluate("[...document.querySelectorAll('input:not([type=hidden]), select')]"
                                       ".filter(i => !i.labels.length).map(i => i.name || i.id)")
            assert unlabelled == [], (path, unlabelled)  # a placeholder is gone while one types
            current = page.locator("header.top nav a[aria-current=page]")
            if path.startswith(("/violations/",)):
                assert current.count() == 0 or current.get_attribute("href") == "/violations"
            else:
                assert current.count() == 1 and current.get_attribute("href") == path, path
        ctx.close()

    ctx, page = open_page(browser, server.url)
    page.goto(server.url + "/bays")
    assert page.locator(".camera-moved").get_attribute("role") == "alert"
    page.goto(server.url + "/violations/2")
    page.click("#confirm")
    page.wait_for_selector(".badge.confirmed")
    assert page.locator("main .flash").first.get_attribute("role") in ("status", "alert")
    page.goto(server.url + "/installer")
    assert page.get_attribute("#kept", "role") == "status"
    ctx.close()


def test_evidence_pictures_say_what_they_show(browser, server, site):  # noqa: F811
    """An evidence picture's text names its bay and time (and the crop its plate, which the page shows anyway):
    before, every frame was "现场照片" and every live bay's picture "最新画面", the same for A1 and A2."""
    ctx, page = open_page(browser, server.url)
    page.goto(server.url + "/violations/4")  # bay A2, 2026-03-03 09:14:11 +08:00 to 09:24:11
    frame = page.get_by_role("img", name="A2").first
    assert "09:14" in frame.get_attribute("alt") and frame.get_attribute("id") == "frame"
    assert "京A88888" in page.get_attribute("#crop", "alt")
    page.goto(server.url + "/bays")
    alts = page.locator("img.snap").evaluate_all("imgs => imgs.map(i => i.alt)")
    assert len(alts) == 2 and "A1" in alts[0] and "A2" in alts[1]
    ctx.close()


def test_a_plate_colour_is_said_in_words(browser, server, site, nev):  # noqa: F811
    """A green plate (an NEV's) says so in text next to it, and a screen reader hears each plate's colour: before,
    the colour of the plate chip was the only sign, on the list, the violation and the live bays."""
    ctx, page = open_page(browser, server.url)
    for path, where in (("/violations", f"tr.row[data-id='{nev}'] td.pl"), (f"/violations/{nev}", ".detail-head h1"),
                        ("/bays", ".bay:has(h2:text-is('A2')) dd:has(.plate)")):
        page.goto(server.url + path)
        cell = page.locator(where).first
        assert "新能源" in cell.inner_text(), path
        assert "绿牌" in cell.evaluate("e => e.textContent"), path
    page.goto(server.url + "/violations")
    assert page.get_by_role("link", name="蓝牌").count() > 0  # a blue plate's link names its colour too
    ctx.close()


def test_text_and_fields_have_aa_contrast(browser, server, site, nev):  # noqa: F811
    """Every text on every page at least 4.5:1 (large text 3:1) against what is behind it, each text box's border
    3:1. Before: a live bay without a picture said "无图片" at 4.38:1, and the fields' #cfd6df borders were 1.46:1
    on white. The page's other states (messages, badges, warnings) are put on the page to be measured too."""
    ctx, page = open_page(browser, server.url)
    low: list = []
    for path in PAGES + ("/login",):
        page.goto(server.url + path)
        page.wait_for_load_state("load")
        page.evaluate("""() => { const m = document.querySelector('main'); m.insertAdjacentHTML('beforeend',
          '<div class="flash">ok</div><div class="flash error">error</div><div class="card"><div class="snap none">无图片</div>'
          + ['open', 'confirmed', 'dismissed', 'allow', 'deny', 'st-free', 'st-violation', 'st-occupied']
              .map(b => `<span class="badge ${b}">${b}</span>`).join('')
          + '<span class="warn">warn</span><span class="live">live</span><span class="muted">muted</span></div>'); }""")
        low += [(path, *x) for x in page.evaluate("a11y.textContrast()")]
        low += [(path, "border", *x) for x in page.evaluate("a11y.fieldBorders()")]
    assert low == []
    ctx.close()


def each_page(ctx, page, url: str):  # noqa: ANN001, ANN201
    """Load every page in turn (signed in, then ``/login`` signed out) and yield its path once it has loaded."""
    for path in PAGES + ("/login",):
        if path == "/login":
            ctx.clear_cookies()
        page.goto(url + path)
        page.wait_for_load_state("load")
        yield path


@pytest.mark.parametrize("phone", PHONES)
def test_phone_and_zoom_fit_and_tap_targets(browser, server, site, phone):  # noqa: F811
    """At 360x640, 390x844 and a 1280 px window zoomed to 200 % (640 CSS px): no page scrolls sideways, the
    pictures fit, primary actions (controls, menu, opening a violation) are at least 44x44 px, every other target
    at least 24x24 (WCAG 2.5.8). Before: buttons and fields were 40 px high, the menu's links 34, a violation opened
    from a 16 px high plate link, the language and logout buttons were 20 px high."""
    site.control.camera_moved = True
    site.log.audit("admin", "list_deny", "plate:粤B67890", "violation:2", "127.0.0.1")  # its "show plate" link
    ctx, page = open_page(browser, server.url, PHONES[phone])
    small: list = []
    for path in each_page(ctx, page, server.url):
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], (path, width)
        for img in page.locator("main img").all():
            box = img.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width[1] + 0.5, (path, box)
        small += [(path, *x) for x in page.evaluate("""() => {
          const primary = 'button:not(.link), .button, input:not([type=hidden]), select, header.top nav a, td.pl a, .bay-list button';
          return [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, summary')].filter(e => {
            const r = e.getBoundingClientRect(); if (!r.width) return false;
            const need = e.matches(primary) ? 44 : 24; return r.width < need - 0.5 || r.height < need - 0.5;
          }).map(e => { const r = e.getBoundingClientRect(); return [a11y.describe(e), Math.round(r.width), Math.round(r.height)]; });
        }""")]
    assert small == []
    ctx.close()


def test_a_phone_table_names_its_columns(browser, server, site):  # noqa: F811
    """On a phone a list's head is hidden and each row is a card: every cell with a value says which column it is.
    Before: the audit log's cards were a time, a name, an action and a target stacked without their column names."""
    ctx, page = open_page(browser, server.url, PHONES["360x640"])
    for path in ("/violations", "/audit"):
        page.goto(server.url + path)
        assert page.locator("table.list thead").is_hidden()
        heads = page.locator("table.list thead th").evaluate_all("ths => ths.map(th => th.textContent.trim())")
        unnamed = page.evaluate("""(heads) => [...document.querySelectorAll('table.list tbody td')].filter(td => {
          const col = heads[td.cellIndex], shown = getComputedStyle(td, '::before').content;
          // the card's head (number, plate, decision badge) speaks for itself
          return col && td.textContent.trim() && !shown.includes(col) && !td.matches('.id, .pl, .dec');
        }).map(td => td.textContent.trim().slice(0, 20))""", heads)
        assert unnamed == [], (path, unnamed[:4])
    ctx.close()


def test_a_table_that_scrolls_sideways_is_a_named_tab_stop_the_arrow_keys_scroll(browser, server, site):  # noqa: F811
    """The statistics' tables scroll sideways in a box on a phone: each box is a tab stop (tabindex=0), a region named
    after its chart, and the arrow keys scroll it once focused. Before: the boxes had no tabindex, role or name; a
    keyboard user of an older WebView (Chromium before 130 makes no scroller a tab stop by itself) could not reach
    the columns past the screen's edge, and a screen reader announced an unnamed group."""
    ctx, page = open_page(browser, server.url, PHONES["360x640"])
    page.goto(server.url + "/stats")
    page.wait_for_load_state("load")
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    boxes = page.locator(".scroll")
    assert boxes.count() == 4
    names = [b.get_attribute("aria-label") for b in boxes.all()]
    assert all(b.get_attribute("tabindex") == "0" and b.get_attribute("role") == "region" for b in boxes.all())
    assert len(set(names)) == 4 and all(n and n.endswith("数据表") for n in names), names
    assert page.get_by_role("region", name="占用率：星期 × 小时 · 数据表").count() == 1
    heat = page.locator(".scroll:has(#table-heat)")
    assert heat.evaluate("b => b.scrollWidth > b.clientWidth")  # 24 hours do not fit 360 px
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(80):  # by the keyboard alone
        page.keyboard.press("Tab")
        if heat.evaluate("b => b === document.activeElement"):
            break
    else:
        raise AssertionError("the heat table's box is no tab stop")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    # a keyboard scroll may be animated: the page waits for it (up to 5 s of frames), no sleep here
    moved = heat.evaluate("""b => new Promise(done => { const t0 = performance.now();
      (function look() { if (b.scrollLeft > 0 || performance.now() - t0 > 5000) done(b.scrollLeft);
                         else requestAnimationFrame(look); })(); })""")
    assert moved > 0
    ctx.close()


def test_the_camera_banner_alerts_once_not_at_every_reload(browser, server, site):  # noqa: F811
    """The live page reloads every 15 s; its moved-camera banner was role=alert at every load, read out over
    whatever a screen-reader user was doing four times a minute. It alerts when it first appears to the session,
    is a status after, and alerts again for a later move once the camera was set right."""
    site.control.camera_moved = True
    ctx, page = open_page(browser, server.url)
    roles = []
    for _ in range(3):
        page.goto(server.url + "/bays")
        roles.append(page.locator(".camera-moved").get_attribute("role"))
    site.control.camera_moved = False
    page.goto(server.url + "/bays")
    assert page.locator(".camera-moved").count() == 0
    site.control.camera_moved = True
    page.goto(server.url + "/bays")
    roles.append(page.locator(".camera-moved").get_attribute("role"))
    assert roles == ["alert", "status", "status", "alert"]
    ctx.close()


# WCAG 2.5.8 as Chromium lays the page out: the page's own targets (what a pointer can act on), each measured
TARGETS_JS = r"""() => [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, '
    + 'summary, [tabindex]:not([tabindex="-1"]), canvas')]
  .map(e => [e, e.getBoundingClientRect()])
  .filter(([e, r]) => r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden')
  .filter(([, r]) => r.width < 23.5 || r.height < 23.5)
  .map(([e, r]) => [a11y.describe(e), +r.width.toFixed(1), +r.height.toFixed(1)])"""


@pytest.mark.parametrize("view", ("desktop", "phone-375"))
def test_every_target_is_at_least_24_px_on_a_desktop_and_a_375_px_phone(browser, server, site, view):  # noqa: F811
    """WCAG 2.5.8 on every interactive element of every page (header, menu, lists, the installer's corners), from
    ``getBoundingClientRect`` in Chromium, in a desktop window and on a 375 px phone: 24x24 CSS px each, without
    leaning on the spacing exception (a list row that wraps brings its links closer). Before: on a desktop the
    list's "#7" link was 22x18 px and each plate link 18 px high (the phone layout made them 44)."""
    site.control.camera_moved = True
    site.log.audit("admin", "list_deny", "plate:粤B67890", "violation:2", "127.0.0.1")  # its "show plate" link
    size = {"desktop": (1366, 768, 1), "phone-375": (375, 667, 1)}[view]
    ctx, page = open_page(browser, server.url, size)
    small: list = []
    for path in each_page(ctx, page, server.url):
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        small += [(path, *x) for x in page.evaluate(TARGETS_JS)]
    assert small == []
    ctx.close()


@pytest.mark.parametrize("lang", ("zh", "en"))
def test_a_link_that_opens_a_new_tab_says_so(browser, server, site, lang):  # noqa: F811
    """Every link with ``target=_blank`` on every page says in its name that it opens a new tab (WCAG 3.2.5, G201),
    and a text link shows an arrow. Before: the violation's pictures and its timeline's "证据" links opened a tab
    unannounced: a screen-reader user was left in a new tab with no "back"."""
    ctx, page = open_page(browser, server.url)
    if lang == "en":
        page.click("header.top button:has-text('English')")
        page.wait_for_selector("html[lang=en]")
    # each language's own brackets: the English name read "（opens in a new tab）", full-width (newuser35)
    says = "（在新标签页打开）" if lang == "zh" else " (opens in a new tab)"
    silent, seen = [], 0
    for path in PAGES:
        page.goto(server.url + path)
        page.wait_for_load_state("load")
        for link in page.locator("a[target=_blank]").all():
            seen += 1
            name = link.aria_snapshot()
            if says not in name:
                silent.append((path, name))
            elif not link.locator("img").count():
                assert link.locator(".new-tab").is_visible() and link.locator(".new-tab").inner_text() == "↗"
    assert seen >= 3 and silent == []
    ctx.close()


def test_a_camera_moved_again_while_nobody_watched_alerts_again(browser, server, site):  # noqa: F811
    """A screen-reader user hears each move of the camera once, as an alert: the banner speaks up for a move this
    session has not been told of, and is a status while that same move lasts. Before, the session kept only "told",
    cleared when it saw the camera set right: a camera moved, set right and moved again while nobody had /bays
    open (a night, a weekend) was a status at the next visit, never announced."""

    def moves(moved: bool) -> None:  # what the agent does: its state, and the event the bus carries
        site.control.camera_moved = moved
        site.bus.publish(Event.make(EventType.CAMERA_MOVED if moved else EventType.CAMERA_ALIGNED, site.clock,
                                    data={"dx": 40.0, "dy": 0.0, "shift_px": 40.0, "tolerance_px": 24.0}))
        site.clock.advance(60)

    ctx, page = open_page(browser, server.url)
    roles = []
    moves(True)
    for _ in range(2):
        page.goto(server.url + "/bays")
        roles.append(page.locator(".camera-moved").get_attribute("role"))
    page.goto(server.url + "/violations")  # elsewhere, or the tab closed: the camera is set right, then knocked again
    moves(False)
    moves(True)
    for _ in range(2):
        page.goto(server.url + "/bays")
        roles.append(page.locator(".camera-moved").get_attribute("role"))
    assert roles == ["alert", "status", "alert", "status"]
    ctx.close()


def test_bay_corners_are_moved_by_keyboard_and_save_as_a_pointer_drawn_outline(browser, server, site):  # noqa: F811
    """The installer's corners are buttons (WCAG 2.1.1): Tab to one, the arrow keys move it 1 px, Shift+arrow 10 px,
    in the picture's pixels; its name and a live region say where it is; ＋ adds one, Delete removes it. The Save
    writes what a pointer's drag of the same corner writes, byte for byte. A corner pressed in the list goes where
    the picture is clicked next, a drag's single-pointer stand-in (2.5.7). Before: no control for a corner at all,
    drawing and moving corners needed a pointer."""
    overrides = site.root / "data" / "overrides.yaml"
    start = (40, 300)  # A1's first corner
    with WebServer(site.app(), "127.0.0.1", 0) as other:  # the pointer's page: the bays as configured
        ctx, page = open_page(browser, other.url)
        page.goto(other.url + "/installer")
        assert image_ok(page, "#snap")
        box = page.locator("#draw").bounding_box()
        sx, sy = box["width"] / 960, box["height"] / 540
        page.mouse.move(box["x"] + start[0] * sx, box["y"] + start[1] * sy)
        page.mouse.down()
        page.mouse.move(box["x"] + 77 * sx, box["y"] + 268 * sy, steps=4)
        page.mouse.up()
        page.click("#save")
        page.wait_for_selector("#result.flash.ok")
        by_pointer = overrides.read_text(encoding="utf-8")
        ctx.close()
    to = [round(v) for v in next(b for b in yaml.safe_load(by_pointer)["bays"] if b["id"] == "A1")["polygon"][0]]
    assert abs(to[0] - 77) <= 2 and abs(to[1] - 268) <= 2
    overrides.unlink()  # the keyboard's page starts from the same bays

    ctx, page = open_page(browser, server.url)
    page.goto(server.url + "/installer")
    assert image_ok(page, "#snap")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('#corner-list li:first-child button')"):
            break
    else:
        raise AssertionError("no corner is a tab stop")
    name = "document.activeElement.textContent"  # its name: no aria-label, the words shown are in it (WCAG 2.5.3)
    assert page.evaluate(name) == "A1 角点 1：x 40，y 300"
    assert page.evaluate("document.activeElement.querySelector(':scope > :not(.visually-hidden)').innerText") \
        == "1：x 40，y 300"  # shown; the bay and "角点" are read only
    dx, dy = to[0] - start[0], to[1] - start[1]
    for delta, (less, more) in ((dx, ("ArrowLeft", "ArrowRight")), (dy, ("ArrowUp", "ArrowDown"))):
        key = more if delta > 0 else less
        for _ in range(abs(delta) // 10):
            page.keyboard.press("Shift+" + key)
        for _ in range(abs(delta) % 10):
            page.keyboard.press(key)
    said = f"A1 角点 1：x {to[0]}，y {to[1]}"
    assert page.evaluate(f"[{name}, document.activeElement.ariaPressed]") == [said, "true"]  # focus stayed on it
    assert page.get_by_role("button", name=said, exact=True).count() == 1
    assert page.inner_text("#corner-say") == said and page.get_attribute("#corner-say", "role") == "status"
    page.keyboard.press("Tab")  # ＋ a corner (on the closing edge), then Delete takes it away again
    while not page.evaluate("document.activeElement.id === 'add-corner'"):
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.locator("#corner-list button").count() == 5
    assert page.evaluate(name).startswith("A1 角点 5：")
    page.keyboard.press("Delete")
    assert page.locator("#corner-list button").count() == 4 and "A1 · 4" in page.inner_text("#bay-list")
    page.click("#save")
    page.wait_for_selector("#result.flash.ok")
    assert overrides.read_text(encoding="utf-8") == by_pointer

    page.click("#corner-list li:nth-child(2) button")  # without a drag: press a corner, click where it goes
    box = page.locator("#draw").bounding_box()
    page.mouse.click(box["x"] + 600 * box["width"] / 960, box["y"] + 120 * box["height"] / 540)
    x, y = page.evaluate("document.querySelector('#corner-list li:nth-child(2) button').innerText"
                         ".match(/x ([0-9.]+)，y ([0-9.]+)/).slice(1).map(Number)")
    assert abs(x - 600) <= 2 and abs(y - 120) <= 2 and page.locator("#corner-list button").count() == 4
    ctx.close()
