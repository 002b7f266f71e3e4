"""The lock controller's own reasons on the violation's timeline, in the page's language (probe newuser34).

A Chinese property manager's timeline said "地锁警告 lk-04 · violation: unidentified", "地锁 下降 · NEV 粤BD12345
identified", "bay free for 20s": the controller's English, where the refusals' codes already had words. The English
stays in the tooltip; an operator's own reason (an `unlock` command's) is shown as it was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.events.types import Event, EventType
from edge_agent.web.i18n import translator
from tests.web.test_api import logged_in

CONTROLLER = Path(__file__).resolve().parents[2] / "edge_agent" / "locks" / "controller.py"
INTERLOCK = CONTROLLER.with_name("interlock.py")


@pytest.mark.parametrize(("reason", "zh", "en"), [
    ("fuel vehicle", "燃油车", "fuel vehicle"),
    ("unidentified vehicle", "未识别的车辆", "unidentified vehicle"),
    ("violation: unidentified", "违规：无法识别车牌", "violation: plate unreadable or covered"),
    ("violation: fuel_vehicle", "违规：燃油车占用", "violation: fuel car in the bay"),
    ("NEV 粤BD12345 identified", "新能源车 粤BD12345 已识别", "NEV 粤BD12345 identified"),
    ("bay free for 20s", "车位空闲 20 秒", "bay free for 20 s"),
    ("bay free for 1.5s", "车位空闲 1.5 秒", "bay free for 1.5 s"),
    ("position read from limit switches at start-up", "启动时按限位开关读取位置",
     "position read from the limit switches at start-up"),
    # the recovery from a fault (newuser35: still English on the Chinese timeline)
    ("fault switch_early reset", "地锁故障已复位", "lock fault reset"),
    ("safe position after fault", "故障后降到安全位置", "lowered to the safe position after a fault"),
    ("lowering after aborted rise", "升起中止，降下", "rise stopped, lowering"),
])
def test_the_controllers_reasons_have_words(reason, zh, en):
    assert translator("zh").lock_why({"reason": reason}) == zh
    assert translator("en").lock_why({"reason": reason}) == en


@pytest.mark.parametrize("reason", ["NEV confirmed by phone", "fault reset by Li", "violation: 1; drop"])
def test_any_other_reason_is_shown_as_sent(reason):
    """An operator's words, a fault's message: never rewritten."""
    assert translator("zh").lock_why({"reason": reason}) == reason


def test_the_words_follow_the_controllers_own_texts():
    """The page matches the controller's texts whole: one reworded there would be English here again."""
    source = CONTROLLER.read_text(encoding="utf-8")
    for text in ('"fuel vehicle"', '"unidentified vehicle"', '"violation: "', 'f"NEV {plate} identified"',
                 'f"bay free for {self.cfg.auto_raise_delay_s:g}s"'):
        assert text in source, text
    interlock = INTERLOCK.read_text(encoding="utf-8")
    for text in ('"position read from limit switches at start-up"', 'f"fault {old} reset"',
                 '"safe position after fault"', '"lowering after aborted rise"'):
        assert text in interlock, text


def test_the_timeline_says_them_in_chinese(site):
    for etype, reason in ((EventType.LOCK_WARNING, "violation: unidentified"),
                          (EventType.LOCK_MOVED, "NEV 粤BD12345 identified")):
        site.bus.publish(Event.make(etype, site.clock, bay_id="A1", visit_id="v-A1-1",
                                    data={"lock_id": "L1", "state": "down", "reason": reason}))
    html = logged_in(site).get("/violations/1").text
    timeline = html.split('<ol class="timeline">')[1].split("</ol>")[0]
    assert "违规：无法识别车牌" in timeline and 'title="violation: unidentified"' in timeline
    assert "新能源车 粤BD12345 已识别" in timeline and 'title="NEV 粤BD12345 identified"' in timeline
    assert ">violation: unidentified<" not in html and ">NEV 粤BD12345 identified<" not in html
