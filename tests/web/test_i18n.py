"""The review page says why a verdict was reached in the reviewer's language."""

from __future__ import annotations

import re

from edge_agent.perception.verdict import REASONS
from edge_agent.web.i18n import translator


def test_every_verdict_reason_has_words_in_chinese():
    """A green-trap plate (民航…) is judged "not NEV" by ``colour+polarity``: the Chinese page showed
    "车牌颜色 + polarity", and ``conflict`` / ``unread`` raw."""
    zh, en = translator("zh"), translator("en")
    for reason in REASONS:
        assert not re.search(r"[A-Za-z_]", zh.why(reason)), (reason, zh.why(reason))
        assert "_" not in en.why(reason) and en.why(reason) != reason.replace("+", " + "), reason


def test_every_plate_type_code_the_agent_gives_has_words_and_keeps_its_code():
    """The detail page showed "· 02": a property manager cannot read a GA 24.7 code. Every code ``plates`` and the
    verdict give is worded in both languages, the code kept beside it (cameras and platforms name plates by it);
    a code the page has no words for is shown as it came."""
    from edge_agent.plates import _FORMATS

    codes = {code for _kind, code, _pattern in _FORMATS} | {"01", "02", "51", "52", "99"}
    zh, en = translator("zh"), translator("en")
    for code in codes:
        assert re.fullmatch(rf"[\u4e00-\u9fff]+号牌（{code}）", zh.plate_type(code)), zh.plate_type(code)
        assert re.fullmatch(rf"[A-Za-z][A-Za-z -]+ \({code}\)", en.plate_type(code)), en.plate_type(code)
    assert (zh.plate_type("52"), en.plate_type("01")) == ("小型新能源汽车号牌（52）", "large vehicle (01)")
    assert (zh.plate_type("07"), zh.plate_type(None)) == ("07", "")
