"""The damaged copies set aside and the older ``events.jsonl`` are aged by the same bounded time as the photos.

chaos37 and review69 made retention believe an unsynchronised clock no further than the newest record plus the
uptime (``evidence/age.py``), but two things that name plates were still aged by the raw wall clock (note45, "left
alone"): a restart with the clock 40 days ahead, unsynced, deleted a damaged index copy set aside a day before, and
the events log turned over and dropped its older file of lines hours old. Both now ask the evidence store's bound."""

from __future__ import annotations

import json
import os
from datetime import timedelta

from edge_agent.clock import FakeClock, iso
from edge_agent.events.bus import EventBus
from edge_agent.evidence.store import EvidenceStore
from edge_agent.runtime.sinks import JsonLinesSink
from tests.evidence.frameless import frameless_agent

JPEG = b"\xff\xd8" + b"x" * 998
DAY = 86400.0


def _ahead(clock: FakeClock, days: float) -> FakeClock:
    """The same device restarted with its wall clock ``days`` ahead and nothing to say it is wrong."""
    return FakeClock(clock.now() + timedelta(days=days), monotonic_start=5.0, synced=False)


def test_a_clock_ahead_unsynced_does_not_delete_a_damaged_copy_a_day_old(tmp_path, clock):
    store = EvidenceStore(tmp_path / "evidence", clock, max_age_days=30)
    store.save("A", "v1", "vehicle_identified", JPEG, JPEG[:300], "京AD12345", {})
    store.close()
    copy = tmp_path / "evidence" / "evidence.db.corrupt-1"
    copy.write_bytes(b"\xe4\xba\xacAD12345")
    day_ago = clock.now().timestamp() - DAY
    os.utime(copy, (day_ago, day_ago))
    ahead = _ahead(clock, 40)
    agent = frameless_agent(str(tmp_path), ahead, evidence={"max_age_days": 30})
    try:
        agent.step()  # retention runs on the first turn
    finally:
        agent.stop()
    assert copy.exists(), "a copy set aside a day ago went on a clock 40 days ahead that nothing vouched for"


def test_a_synced_clock_still_deletes_an_old_damaged_copy(tmp_path, clock):
    """The bound holds an unsynced clock only: a synchronised one ages the copy by its own time, as before."""
    store = EvidenceStore(tmp_path / "evidence", clock, max_age_days=30)
    store.save("A", "v1", "vehicle_identified", JPEG, JPEG[:300], "京AD12345", {})
    store.close()
    copy = tmp_path / "evidence" / "evidence.db.corrupt-1"
    copy.write_bytes(b"x")
    day_ago = clock.now().timestamp() - DAY
    os.utime(copy, (day_ago, day_ago))
    later = FakeClock(clock.now() + timedelta(days=40), monotonic_start=5.0, synced=True)
    agent = frameless_agent(str(tmp_path), later, evidence={"max_age_days": 30})
    try:
        agent.step()
    finally:
        agent.stop()
    assert not copy.exists()


def _line(at: FakeClock, n: int) -> str:
    return json.dumps({"kind": "event", "event_id": f"e{n}", "ts": iso(at.now()), "data": {"plate": "京AD12345"}})


def test_a_clock_ahead_unsynced_keeps_the_events_log_lines_hours_old(tmp_path, clock):
    store = EvidenceStore(tmp_path / "evidence", clock, max_age_days=30)
    store.save("A", "v1", "vehicle_identified", JPEG, JPEG[:300], "京AD12345", {})
    store.close()
    path = tmp_path / "events.jsonl"
    older = tmp_path / "events.jsonl.1"
    older.write_text(_line(clock, 1) + "\n")
    path.write_text(_line(clock, 2) + "\n")
    ahead = _ahead(clock, 40)
    store = EvidenceStore(tmp_path / "evidence", ahead, max_age_days=30)
    sink = JsonLinesSink(EventBus(), path, None, max_age_s=30 * DAY, clock=ahead, own=True, age_now=store.age_now)
    sink.start()
    try:
        sink.expire()
    finally:
        sink.stop()
        store.close()
    lines = [ln for p in (older, path) if p.exists() for ln in p.read_text().splitlines()]
    assert len(lines) == 2 and older.exists(), "events.jsonl's lines of this hour dropped on a clock 40 days ahead"
