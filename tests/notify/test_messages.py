"""Robot markdown as the group chat reads it: what the device says, and nothing a command's text adds."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from edge_agent.events.types import Event
from edge_agent.notify.messages import TEXT_MAX, markdown

SH = ZoneInfo("Asia/Shanghai")
TS = "2026-11-02T09:00:00.000+08:00"


def test_free_text_cannot_add_links_headings_or_lines_to_a_robot_message():
    """``lock_moved`` carries the operator's command ``reason`` as it came over MQTT; an operator who adds
    ``lock_moved`` to ``notify.events`` put it raw into WeCom / DingTalk markdown: a link of its own, a heading,
    new lines that read as the device's."""
    bait = "ok\n### 系统通知\n> 请点击 [重新登录](http://evil.example/login) ![x](http://evil.example/p.png) <b>"
    _, text = markdown(Event("lock_moved", TS, "A1", data={"state": "down", "reason": bait}), SH, "zh", None, "s1")
    assert "](" not in text and "<b>" not in text and "http://evil.example" in text  # shown, not a link
    body = text.splitlines()
    assert body[0].startswith("### ") and sum(line.startswith("###") for line in body) == 1
    assert len(body) == 4  # title, bay, kind (the reason on one line), time
    long = markdown(Event("lock_moved", TS, "A1", data={"reason": "x" * 5000}), SH, "en", None, "s1")[1]
    assert max(len(line) for line in long.splitlines()) < TEXT_MAX + 20


def test_known_reasons_are_words_and_a_stopped_run_says_the_departure_was_not_seen():
    ev = Event("violation_ended", TS, "B", data={"reason": "agent_stopped", "violation": "fuel_vehicle",
                                                 "duration_s": 600.0})
    _, text = markdown(ev, SH, "en", "https://site.example", "s1")
    assert "the agent had stopped; when it left was not seen" in text and "10 min" in text
    assert "[Open Details](https://site.example/bays)" in text  # the device's own link stays a link


def test_every_reason_that_ends_a_story_is_in_words_for_the_group_and_on_the_page():
    """A violation ended because the car was identified as an NEV, or put on the allow-list, reached the group
    chat as the bare code (``类型: identified``), and a bay taken out at a reload showed ``bay_removed`` on the
    page: every ``END_REASONS`` entry has words in both languages, in both places."""
    from edge_agent.events.types import END_REASONS
    from edge_agent.web.i18n import translator

    for reason in END_REASONS:
        for lang in ("zh", "en"):
            ev = Event("violation_ended", TS, "B", data={"reason": reason, "violation": "fuel_vehicle",
                                                         "duration_s": 60.0})
            kind = next(line for line in markdown(ev, SH, lang, None, "s1")[1].splitlines() if "> " in line
                        and line.split(": ", 1)[0].endswith(("类型", "Kind")))
            assert kind.split(": ", 1)[1] != reason, (lang, kind)
            assert translator(lang).label("vr", reason) != reason, (lang, reason)


def test_a_violation_message_says_what_was_seen_for_review_not_a_verdict():
    """The robot message reaches the reviewing manager before anyone looked: it said "违规占用充电车位" /
    "Charging bay blocked" and "燃油车占用" of a plate read as a fuel car — a misread plate or a tow truck got the
    same verdict. It says what was read and that it is to review, as the photo's caption does (newuser37)."""
    import re

    for reason in ("fuel_vehicle", "unidentified", "deny_list"):
        for lang in ("zh", "en"):
            ev = Event("violation_started", TS, "B", data={"reason": reason, "plate": "京A12345", "parked_s": 125.0})
            title, text = markdown(ev, SH, lang, None, "s1")
            assert not re.search(r"违规|占用|blocked|violat", text, re.I), text
            assert ("待审核" if lang == "zh" else "to review") in title, title
    fuel = markdown(Event("violation_started", TS, "B", data={"reason": "fuel_vehicle"}), SH, "zh", None, "s1")[1]
    assert "车牌判读为燃油车" in fuel, fuel
