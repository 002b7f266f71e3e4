"""The live page says why a lock is faulted or stays down, and what to do, in the page's language.

The page showed each lock as up / down / moving / fault: a fault's code, a blind presence sensor's hold, the refusal
that keeps an arm down, maintenance mode and an owed lowering were said only in ``lock_fault`` / ``lock_refused``
events, so an operator at the page could not tell a jammed motor (clear it, reset) from a sensor knocked off its aim
(check its aim, or wait for the next car) or a technician's maintenance (turn it off). Here a real lock rig (gpiozero's
MockFactory pins, the agent's lock manager) is driven into each state and the page is read in headless Chromium.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from edge_agent.control import LockNote
from edge_agent.events.types import EventType
from edge_agent.web.i18n import translator
from edge_agent.web.server import WebServer
from tests.locks.conftest import BAY, DOWN, Rig, gpio_lock
from tests.locks.test_motor_write_failed import failing
from tests.web.test_browser import browser, login, shot  # noqa: F401 - the module's Chromium fixture

DISAGREE_S = 60.0  # presence.disagree_s at its lowest


def rig_at(site: Any, position: float = 0.0, **over: Any) -> Rig:
    """One lock on MockFactory pins, on the page's clock, its camera seeing the bay empty."""
    rig = Rig("gpio", site.clock, position=position, **over)
    rig.see(occupied=False, p_occupied=0.05)
    return rig


def held_by_a_changed_bay(site: Any) -> Rig:
    rig = rig_at(site)
    rig.changed = True  # something in the bay the model reads as empty: the policy's raise is held, said once
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "down" and [e.data["code"] for e in rig.of(EventType.LOCK_REFUSED)] == ["bay_changed"]
    return rig


def blind_sensor(site: Any) -> Rig:
    rig = rig_at(site, presence={**gpio_lock()["presence"], "disagree_s": DISAGREE_S})
    rig.bay("occupied")
    rig.see(occupied=True, p_occupied=0.95)  # a car the camera sees, off the sensor's beam
    rig.step(DISAGREE_S + 5)
    rig.see(occupied=False, p_occupied=0.05)
    rig.bay("free")
    rig.step(rig.lock_cfg.auto_raise_delay_s + 5)
    assert rig.state == "down"
    return rig


def stalled_motor(site: Any) -> Rig:
    rig = rig_at(site, position=1.0)
    rig.inject("stall")
    assert rig.manager.unlock(BAY, "visitor", "ops").ok
    rig.step(rig.lock_cfg.motor_timeout_s + 1)  # the lowering times out: the arm stays up
    assert rig.manager.status()[BAY]["fault"] == "motor_timeout" and rig.arm.position == 1.0
    return rig


def maintenance(site: Any, operator: str) -> Rig:
    rig = rig_at(site)
    assert rig.manager.set_maintenance(BAY, True, operator).ok
    return rig


def lowering_owed(site: Any) -> Rig:
    rig = rig_at(site, position=1.0)
    failing(rig.pin(DOWN), True, times=None)  # the DOWN line's writes fail (a GPIO chip's I/O error)
    assert rig.manager.unlock(BAY, "visitor", "ops").ok
    assert rig.arm.position == 1.0 and rig.manager.status()[BAY]["fault"] is None
    return rig


@pytest.mark.browser
def test_the_live_page_says_why_each_lock_is_down_and_what_to_do(browser, site):  # noqa: F811
    rigs = {"blind": blind_sensor(site), "stalled": stalled_motor(site),
            "maintenance": maintenance(site, "<img src=x onerror=window.pwned=1>"), "owed": lowering_owed(site)}
    # last: the rigs share the page's clock, and a refusal is shown while its cause holds — a lock left unticked
    # while the others' steps age its camera's word is refused occupancy_stale now, not bay_changed
    rigs["changed"] = held_by_a_changed_bay(site)
    shown: list[Rig] = []
    site.control.lock_notes = lambda: {"A1": shown[-1].manager.lock_notes()[BAY]}  # Agent.lock_notes, bay A1's lock
    try:
        with WebServer(site.app(), "127.0.0.1", 0) as srv:
            ctx, page = login(browser, srv.url)

            def bay_a1(rig: Rig) -> Any:
                shown.append(rig)
                page.goto(srv.url + "/bays")
                return page.locator("section.bay").first

            a1 = bay_a1(rigs["changed"])
            assert a1.locator(".lock-fault, .lock-blind, .lock-maintenance, .lock-owed").count() == 0
            said = a1.locator(".lock-refused").inner_text()
            assert said.startswith("拒绝升起（") and "车位内有未识别的物体" in said  # when, and why in words

            said = bay_a1(rigs["blind"]).locator(".lock-blind").inner_text()
            assert "1 分钟" in said and "检查传感器朝向" in said and "复位" in said
            assert page.locator(".lock-refused").count() == 0  # the hold is said once, by its own line

            a1 = bay_a1(rigs["stalled"])
            fault = a1.locator(".lock-fault")
            assert "电机运行超时" in fault.inner_text() and "复位" in fault.inner_text()
            assert fault.locator("code").inner_text() == "motor_timeout"  # the code, for the technician
            assert "no limit switch" in fault.get_attribute("title")  # the agent's own words in the tooltip
            assert "地锁可能没有降到底" in fault.inner_text()  # its lowering timed out too: look at the arm
            assert a1.locator(".lock-refused").count() == 0  # the fault says it; not "refused: fault" beside it
            shot(page, "bays-lock-fault-laptop")

            a1 = bay_a1(rigs["maintenance"])
            said = a1.locator(".lock-maintenance").inner_text()
            assert "维护模式" in said and "<img src=x onerror=window.pwned=1>" in said  # the operator, as text
            assert a1.locator(".lock-maintenance img").count() == 0 and page.evaluate("() => window.pwned") is None

            said = bay_a1(rigs["owed"]).locator(".lock-owed").inner_text()
            assert said.startswith("待降下") and "驱动板和接线" in said

            page.goto(srv.url + "/violations")  # the page's other language
            token = page.get_attribute("input[name=csrf]", "value")
            ctx.request.post(srv.url + "/lang", form={"lang": "en", "next": "/bays", "csrf": token})
            said = bay_a1(rigs["blind"]).locator(".lock-blind").inner_text()
            assert re.search(r"saw no car the camera saw for 1 min \(since 03-\d\d \d\d:\d\d \+08:00\): no raise; "
                             r"check its aim; a car it sees, or a reset, ends it", said), said
            said = bay_a1(rigs["stalled"]).locator(".lock-fault").inner_text()
            assert said.startswith("fault since ") and "clear the arm" in said and "then reset" in said
            ctx.close()
    finally:
        for r in rigs.values():
            r.close()


def test_a_lock_with_nothing_to_say_adds_nothing(client_with_notes):
    html = client_with_notes(LockNote("L1")).get("/bays").text
    assert not re.search(r"lock-(fault|blind|maintenance|refused|owed)", html)


def test_a_fault_code_the_page_has_no_words_for_is_still_a_fault_to_check(client_with_notes):
    """A record kept by a newer agent, or a code added later: shown as a fault to check at the bay, with its code."""
    html = client_with_notes(LockNote("L1", fault="gearbox_hot", fault_since="2026-03-02T09:00:00+08:00")).get(
        "/bays").text
    assert "到现场检查地锁后复位" in html and "<code>gearbox_hot</code>" in html


def test_every_fault_the_interlock_latches_has_words_and_a_next_step():
    """Each ``_enter_fault`` code of the interlock (and the unreadable record's) is worded in both languages, so the
    page never shows a bare code for a fault the agent can latch."""
    from edge_agent.locks import interlock
    from edge_agent.locks.latches import UNREADABLE

    codes = set(re.findall(r'_enter_fault\("([a-z_]+)"', Path(interlock.__file__).read_text(encoding="utf-8")))
    assert len(codes) >= 8
    zh, en = translator("zh"), translator("en")
    for code in codes | {UNREADABLE}:
        assert zh.lock_fault(code) != zh("lf_other") and "复位" in zh.lock_fault(code), code
        assert en.lock_fault(code).endswith("reset") or "reset" in en.lock_fault(code), code


def test_a_lowering_due_before_the_next_tick_is_no_wiring_fault(site):
    """A rise stopped for a car lowers after ``reverse_delay_s``, at the next tick: a page loaded in between said
    "overdue: the motor line did not take it; check the lock's driver and wiring" of a lock whose writes all worked
    (review42). One whose DOWN write fails still says it (``test_the_live_page_says_why_each_lock_is_down…``)."""
    from tests.web.test_api import logged_in

    rig = rig_at(site)
    try:
        rig.watch_free()
        assert rig.manager.lock(BAY, "test raise", "ops").ok
        rig.step(1.0)
        rig.set_vehicle(True)  # a car noses in: the rise stops, the lowering waits reverse_delay_s
        rig.clock.advance(rig.lock_cfg.reverse_delay_s + 0.05)  # due; the lock's tick has not run yet
        site.control.lock_notes = lambda: {"A1": rig.manager.lock_notes()[BAY]}
        client = logged_in(site)
        html = client.get("/bays").text
        assert "lock-owed" in html and "驱动板和接线" not in html and "待降下：0 秒后" in html
        rig.step(0.1)  # the tick starts it
        assert rig.down_active() and "lock-owed" not in client.get("/bays").text
    finally:
        rig.close()


def test_a_reset_ends_the_refusal_the_page_said_before_it(site):
    """"presence sensor still lost" (the reset refused) stood on the page after the sensor was back and the reset
    done, for as long as a car then stayed: the operator read the reset as failed (review42)."""
    from tests.web.test_api import logged_in

    rig = rig_at(site)
    try:
        rig.step(1)
        rig.inject("lose_presence", True)
        rig.step(5)  # past presence.stale_s
        assert rig.manager.status()[BAY]["fault"] == "presence_unknown"
        assert not rig.manager.reset(BAY, "ops").ok  # still lost: refused
        rig.inject("lose_presence", False)
        rig.step(1)
        assert rig.manager.reset(BAY, "ops").ok and rig.state == "down"
        rig.bay("occupied")
        rig.see(occupied=True, p_occupied=0.95)
        rig.set_vehicle(True)
        rig.step(60)
        site.control.lock_notes = lambda: {"A1": rig.manager.lock_notes()[BAY]}
        html = logged_in(site).get("/bays").text
        assert "lock-refused" not in html and "车位传感器失联" not in html
    finally:
        rig.close()


def test_both_switches_say_the_arm_was_not_lowered():
    """The one FAULT that moves nothing (its position unknown: docs/locks.md, rule 7): its words said only "check the
    switches", and an operator took the arm for down like every other faulted lock's, though it may stand up in
    front of the next car (review42)."""
    assert "may still be up" in translator("en").lock_fault("switches_both")
    assert "可能仍处于升起状态" in translator("zh").lock_fault("switches_both")
    for code in ("motor_timeout", "switch_flapping", "presence_unknown"):  # lowered: not said of them
        assert "may still be up" not in translator("en").lock_fault(code)


@pytest.fixture
def client_with_notes(site):  # noqa: ANN201
    from tests.web.test_api import logged_in

    def make(note: LockNote) -> Any:
        site.control.lock_notes = lambda: {"A1": note}
        return logged_in(site)

    return make


def test_a_refusal_whose_cause_is_gone_leaves_the_page(site):
    """A remote ``lock`` refused "presence sensor detects a vehicle", and one refused "the lock is lowering", stood on
    the page with their time after the car had gone and the arm was down, until the arm next moved — with
    ``auto_raise`` off, for good: an operator read a bay the sensor saw empty as one with a car over its lock
    (leftovers34). A refusal whose cause still holds stays (``test_the_live_page_says_why…``: ``bay_changed``)."""
    from tests.web.test_api import logged_in

    rig = rig_at(site)
    try:
        site.control.lock_notes = lambda: {"A1": rig.manager.lock_notes()[BAY]}
        client = logged_in(site)
        rig.step(1)
        rig.set_vehicle(True)
        rig.step(0.5)
        assert not rig.manager.lock(BAY, "remote", "ops").ok
        assert rig.manager.lock_notes()[BAY].refused == "vehicle_present"
        assert "车位传感器检测到车辆" in client.get("/bays").text  # while the car is there, it is said
        rig.set_vehicle(False)
        rig.step(1)  # the sensor's next reading: clear (the policy's raise is still auto_raise_delay_s away)
        assert rig.state == "down" and rig.manager.lock_notes()[BAY].refused is None
        assert "lock-refused" not in client.get("/bays").text
    finally:
        rig.close()

    rig = rig_at(site, position=1.0)
    try:
        rig.step(1)
        assert rig.manager.unlock(BAY, "visitor", "ops").ok
        rig.step(0.5)
        assert not rig.manager.lock(BAY, "remote", "ops").ok  # refused busy: lowering
        assert rig.manager.lock_notes()[BAY].refused == "busy"
        rig.step(rig.lock_cfg.motor_timeout_s)  # down, and the reversal's wait over
        assert rig.state == "down" and rig.manager.lock_notes()[BAY].refused is None
    finally:
        rig.close()


def test_a_lowering_held_while_both_switches_read_active_says_why_it_waits(site):
    """A faulted arm's lowering held for the motor's duty (a backend's ``unlock`` retries under a stalled motor), then
    both limit switches read active (a stone on the down switch, the arm up): the motor is kept off while they do, so
    the lowering waits on past its time — and the page said "a lowering is owed: in 0 s" for as long as they did
    (probe lock36). It says why it waits now."""
    from tests.web.test_api import logged_in

    rig = stalled_motor(site)
    try:
        for _ in range(rig.lock_cfg.max_moves + 2):  # a backend retrying its unlock: past the motor's duty
            assert rig.manager.unlock(BAY, "visitor", "backend").ok
            rig.step(6)
        assert rig.manager.lock_notes()[BAY].lowering_in_s > 0
        rig.inject("stick_switch", "down", True)
        rig.step(rig.lock_cfg.max_moves_window_s)  # the duty free again; the switches still both active
        note = rig.manager.lock_notes()[BAY]
        assert note.fault == "switches_both" and note.lowering_in_s == 0 and not rig.down_active()
        site.control.lock_notes = lambda: {"A1": rig.manager.lock_notes()[BAY]}
        html = logged_in(site).get("/bays").text
        assert "待降下：0 秒后" not in html, html  # before: said, for as long as both read active
        assert "两个限位开关同时有效" in html and "lock-owed" in html
        rig.inject("stick_switch", "down", None)  # the stone gone: the held lowering starts
        rig.inject("stall", False)
        rig.step(rig.lock_cfg.motor_timeout_s)
        assert rig.arm.position == 0.0 and "lock-owed" not in logged_in(site).get("/bays").text
    finally:
        rig.close()


def test_a_maintenance_taken_from_a_renamed_lock_names_that_lock(client_with_notes):
    """A lock renamed while the agent was stopped starts held by the old name's maintenance (locks45): the page said
    only "maintenance mode", and the operator of the new name could not tell why it was held or whose work it was."""
    note = LockNote("L2", maintenance=True, maintenance_since="2026-03-02T09:00:00+08:00", maintenance_by="ops",
                    maintenance_from="<b>L1</b>")
    html = client_with_notes(note).get("/bays").text
    said = re.search(r'class="warn lock-maintenance">(.*?)</dd>', html, re.S)
    assert said and "维护模式" in said.group(1) and "&lt;b&gt;L1&lt;/b&gt;" in said.group(1), html
    assert "已不在配置中" in said.group(1)
    html = client_with_notes(LockNote("L2", maintenance=True, maintenance_since="2026-03-02T09:00:00+08:00")).get(
        "/bays").text
    assert "已不在配置中" not in html
