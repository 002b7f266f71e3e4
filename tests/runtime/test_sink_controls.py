"""Free text from a command (a lock's ``operator`` and ``reason``: any string up to 100 / 500 characters, from
whoever may publish to the command topic) reaches ``run``'s event lines as text, never as terminal controls or
line breaks."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.sinks import JsonLinesSink

HOSTILE = "mallory\x9b2J\x1b]0;pwned\x07\x7f\x85next\u2028line\u2029end 张三"


def test_an_operators_text_is_one_line_with_no_raw_control_and_reads_back_the_same(tmp_path):
    clock, bus, out = FakeClock(datetime(2026, 3, 2, tzinfo=timezone.utc)), EventBus(), io.StringIO()
    path = tmp_path / "events.jsonl"
    sink = JsonLinesSink(bus, path, out)
    sink.start()
    bus.publish(Event.make(EventType.LOCK_REFUSED, clock, bay_id="A1",
                           data={"lock_id": "L1", "code": "vehicle_present", "reason": HOSTILE, "operator": HOSTILE}))
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A1", visit_id="v1"))
    sink.stop()
    for text in (out.getvalue(), path.read_text(encoding="utf-8")):
        assert not any(c in text for c in "\x9b\x1b\x07\x7f\x85\u2028\u2029"), repr(text)
        lines = text.splitlines()  # a reader's usual way: cut at U+0085 / U+2028 / U+2029 too
        assert len(lines) == 2
        first = json.loads(lines[0])
        assert first["data"]["operator"] == HOSTILE and first["data"]["reason"] == HOSTILE


def test_bidirectional_controls_in_an_operators_text_are_escaped_and_read_back(tmp_path):
    """U+202E in a command's ``operator`` turned the rest of ``run``'s event line around on the terminal (and in
    ``events.jsonl`` shown by ``less``/``cat``): the line seemed to say another bay or plate."""
    bidi = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    clock, bus, out = FakeClock(datetime(2026, 3, 2, tzinfo=timezone.utc)), EventBus(), io.StringIO()
    path = tmp_path / "events.jsonl"
    sink = JsonLinesSink(bus, path, out)
    sink.start()
    bus.publish(Event.make(EventType.LOCK_MAINTENANCE, clock, bay_id="A1",
                           data={"lock_id": "L1", "on": True, "operator": f"ops{bidi}1A"}))
    sink.stop()
    for text in (out.getvalue(), path.read_text(encoding="utf-8")):
        assert not any(c in text for c in bidi), ascii(text)
        assert json.loads(text)["data"]["operator"] == f"ops{bidi}1A"
