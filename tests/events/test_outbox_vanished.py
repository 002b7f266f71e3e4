"""An outbox that vanished between two runs is told to the backend (probe chaos41).

An outbox on a disk of its own that came back empty, or a file deleted, was opened fresh at the next start: its
waiting events were gone and nothing said so (the agent could not tell it from a new device's). The run ledger now
remembers which outbox the run used (``outbox_identity``) and, at each mark, the newest event it took and how many
rows waited; a start that finds another outbox puts an ``outbox_lost`` with ``reason: outbox_missing`` in it.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_agent.clock import FakeClock
from edge_agent.events.schemas import first_error
from edge_agent.events.types import Event, EventType
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config


def _parts(tmp_path: Path, clock: FakeClock):  # noqa: ANN202
    """The agent's recorder and (unstarted) MQTT link as ``run`` builds them; the broker never answers."""
    cfg = scene_config(str(tmp_path / "data"), mqtt={"enabled": True, "brokers": ["mqtt://127.0.0.1:1"]})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, EMPTY), clock))
    assert parts.recorder is not None and parts.link is not None
    parts.recorder.start()
    return parts


def _lost_notices(parts) -> list[dict]:  # noqa: ANN001
    docs = [json.loads(r.payload) for r in parts.link.outbox.pending(limit=10_000)]
    return [d for d in docs if d.get("type") == "outbox_lost"]


def _first_run(tmp_path: Path, clock: FakeClock) -> Event:
    """A run that takes two events it cannot send and stops cleanly; returns the newest."""
    first = _parts(tmp_path, clock)
    first.recorder.close_previous_run()
    first.agent.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v-a"))
    last = Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="v-b")
    first.agent.bus.publish(last)
    clock.advance(30)
    first.recorder.stop()
    first.link.stop(flush_s=0)
    return last


def test_a_start_that_finds_the_outbox_gone_tells_the_backend(tmp_path):
    clock = FakeClock()
    last = _first_run(tmp_path, clock)
    for f in (tmp_path / "data").glob("mqtt-outbox.sqlite*"):  # the outbox's disk came back empty
        f.unlink()
    clock.advance(60)
    second = _parts(tmp_path, clock)
    try:
        second.recorder.close_previous_run()
        notices = _lost_notices(second)
        assert len(notices) == 1, "a vanished outbox (its waiting events gone) was opened fresh in silence"
        data = notices[0]["data"]
        assert data["reason"] == "outbox_missing" and data["last_event_id"] == last.event_id
        assert data["lost_total"] >= 2  # the events that waited at the last mark, at least
        assert first_error("event.json", notices[0]) is None
    finally:
        second.recorder.stop()
        second.link.stop(flush_s=0)
    clock.advance(60)
    third = _parts(tmp_path, clock)  # said once: the ledger now knows the new outbox
    try:
        third.recorder.close_previous_run()
        assert len(_lost_notices(third)) == 1
    finally:
        third.recorder.stop()
        third.link.stop(flush_s=0)


def test_a_start_with_the_same_outbox_says_nothing(tmp_path):
    clock = FakeClock()
    _first_run(tmp_path, clock)
    clock.advance(60)
    second = _parts(tmp_path, clock)
    try:
        second.recorder.close_previous_run()
        assert _lost_notices(second) == []
    finally:
        second.recorder.stop()
        second.link.stop(flush_s=0)


def test_a_loss_told_by_a_run_whose_start_a_lock_kept_out_is_not_told_again(tmp_path):
    """The run that told the loss could not note its own outbox in the ledger (another program held ``evidence.db``'s
    lock for its whole life, or it was killed before the put-off start was recorded): the next start still finds the
    vanished outbox's identity there. Told again, the backend counted the same lost events twice (review99)."""
    from tests.evidence.test_evidence_locked import locked

    clock = FakeClock()
    _first_run(tmp_path, clock)
    for f in (tmp_path / "data").glob("mqtt-outbox.sqlite*"):
        f.unlink()
    clock.advance(60)
    second = _parts(tmp_path, clock)
    for conn in (second.recorder.log._db, second.recorder.runs._db):  # the lock, not this run's own wait, is the point
        conn.execute("PRAGMA busy_timeout=20")
    with locked(tmp_path / "data" / "evidence" / "evidence.db"):
        second.recorder.close_previous_run()
        told = _lost_notices(second)
        second.recorder.stop()
        second.link.stop(flush_s=0)
    assert len(told) == 1
    clock.advance(60)
    third = _parts(tmp_path, clock)
    try:
        third.recorder.close_previous_run()
        again = _lost_notices(third)
        assert [n["data"]["lost_total"] for n in again] == [told[0]["data"]["lost_total"]], (
            "the same vanished outbox was counted lost again"
        )
        assert again[0]["event_id"] == told[0]["event_id"]
    finally:
        third.recorder.stop()
        third.link.stop(flush_s=0)


def test_an_outbox_salvaged_without_its_identity_is_not_told_as_vanished(tmp_path):
    """A bad block on the page of the outbox's counters: the salvage carries every waiting row over but cannot read
    the file's ``identity``, so the fresh outbox has another one. The file did not vanish (its rows are sent, its
    damage told as ``damaged_file`` where rows went): told as ``outbox_missing``, the backend counted the rows that
    waited at the last mark lost though they came (review99)."""
    from tests.damage import damage_pages

    clock = FakeClock()
    _first_run(tmp_path, clock)
    damage_pages(tmp_path / "data" / "mqtt-outbox.sqlite", "counters", 0, leaves=False)
    clock.advance(60)
    second = _parts(tmp_path, clock)
    try:
        second.recorder.close_previous_run()
        arrivals = [r for r in second.link.outbox.pending(limit=10_000) if b"vehicle_arrived" in r.payload]
        assert len(arrivals) == 2  # salvaged: the waiting rows are all there
        missing = [n for n in _lost_notices(second) if n["data"].get("reason") == "outbox_missing"]
        assert missing == [], "an outbox salvaged in place was told as vanished, its salvaged rows counted lost"
    finally:
        second.recorder.stop()
        second.link.stop(flush_s=0)


def test_a_vanished_outbox_counts_its_waiting_events_not_its_retained_documents(tmp_path):
    """``lost_total`` counted every row that waited, the retained bay states and daily statistics too: a site of many
    bays whose broker was down told a backend of dozens of lost events when two were (probe chaos42). A retained
    document is no event (every start publishes each bay's state anew): the count is the events that waited."""
    clock = FakeClock()
    first = _parts(tmp_path, clock)
    first.recorder.close_previous_run()
    for bay in range(12):
        first.link.publish_retained(f"edge/site/dev/bay/{bay}/state", {"bay_id": str(bay), "state": "free"})
    first.agent.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v-a"))
    first.agent.bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="v-b"))
    clock.advance(30)
    first.recorder.stop()
    events = sum(not r.retain for r in first.link.outbox.pending(limit=10_000))
    first.link.stop(flush_s=0)
    for f in (tmp_path / "data").glob("mqtt-outbox.sqlite*"):
        f.unlink()
    clock.advance(60)
    second = _parts(tmp_path, clock)
    try:
        second.recorder.close_previous_run()
        (notice,) = _lost_notices(second)
        assert notice["data"]["lost_total"] == events, "retained documents were counted as lost events"
    finally:
        second.recorder.stop()
        second.link.stop(flush_s=0)
