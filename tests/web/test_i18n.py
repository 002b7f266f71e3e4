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
