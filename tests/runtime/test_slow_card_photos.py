"""A slow SD card: the evidence photos' syncs are off the frame loop (``evidence/writer.py``, probe evidence20).

The real agent, the shipped models, the violation log, an injected clock moved by ``SYNC_S`` at each sync made on the
loop's thread (the photos' and folders' fsyncs, the evidence index row, the violation log's row). Before: the NEV's
identification turn held the loop for its photo's five syncs as well as the log's rows (140-280 frames of the demo
story unjudged at 1-2 s a sync). The events are the same, in the same order, with the same data."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationLog
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, NEV, Scene, ScriptedSource, drive, hold, scene_config

FPS = 5
SYNC_S = 1.0


def step_through(agent: Agent, clock: FakeClock, duration: float) -> float:
    """Step ``agent`` at ``FPS`` for ``duration`` s of ``clock``; the longest turn, on the clock the slow writes move."""
    longest, t0 = 0.0, clock.monotonic()
    while clock.monotonic() - t0 < duration:
        before = clock.monotonic()
        agent.step()
        longest = max(longest, clock.monotonic() - before)
        clock.advance(1 / FPS)
    return longest


def _story(tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, photo_thread: bool
           ) -> tuple[list[Event], float, dict[str, int], Any]:
    loop = threading.current_thread()
    syncs = {"photo": 0, "log": 0}
    in_photo = [False]
    fsync, write, record = os.fsync, EvidenceStore.write, ViolationLog.record

    def slow(kind: str) -> None:
        if threading.current_thread() is loop:
            syncs[kind] += 1
            clock.advance(SYNC_S)

    def slow_fsync(fd: int) -> None:
        fsync(fd)
        if in_photo[0] and threading.current_thread() is loop:
            slow("photo")

    def slow_write(self: EvidenceStore, *args: Any) -> str:
        in_photo[0] = threading.current_thread() is loop
        try:
            eid = write(self, *args)
        finally:
            in_photo[0] = False
        slow("photo")  # the index row, synchronous=FULL
        return eid

    def slow_record(self: ViolationLog, event: Event) -> None:
        record(self, event)
        slow("log")

    monkeypatch.setattr(os, "fsync", slow_fsync)
    monkeypatch.setattr(EvidenceStore, "write", slow_write)
    monkeypatch.setattr(ViolationLog, "record", slow_record)
    story = hold(6, EMPTY) + drive(NEV, -200, NEV.x, 1.6, FPS) + hold(20, Scene(cars=(NEV,)))
    cfg = scene_config(str(tmp_path / ("t" if photo_thread else "i")), mqtt={"enabled": False},
                       web={"enabled": False})
    source = ScriptedSource(story, clock)
    parts = assemble(cfg, clock=clock, source=source, photo_thread=photo_thread)
    agent = parts.agent
    events: list[Event] = []
    agent.bus.subscribe(events.append)
    parts.start()
    try:
        longest = step_through(agent, clock, source.duration)
        assert agent.drain_photos(timeout=30)
    finally:
        parts.stop()
    return events, longest, syncs, parts


def test_the_photos_syncs_leave_the_loop_and_the_events_stay_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                      ) -> None:
    before, long_before, syncs_before, old = _story(tmp_path, FakeClock(), monkeypatch, photo_thread=False)
    after, long_after, syncs_after, new = _story(tmp_path, FakeClock(), monkeypatch, photo_thread=True)
    try:
        assert syncs_before["photo"] >= 4 and syncs_after["photo"] == 0  # none of the photo's syncs on the loop
        assert long_after <= long_before - 4 * SYNC_S, (long_before, long_after)

        def told(evs: list[Event]) -> list[tuple[Any, ...]]:
            return [(e.type, e.bay_id, {k: v for k, v in e.data.items() if k != "visit_id"}, bool(e.evidence_id))
                    for e in evs]
        assert told(after) == told(before)
        ident = next(e for e in after if e.type == EventType.VEHICLE_IDENTIFIED)
        rec = new.agent.evidence.get(ident.evidence_id)  # written by the writer, named by the event
        assert rec is not None and rec.meta["event_id"] == ident.event_id
        assert new.agent.evidence.image_path(ident.evidence_id).is_file()
    finally:
        old.close()
        new.close()


def test_a_clean_stop_writes_the_queued_photos_before_the_index_closes(tmp_path: Path, clock: FakeClock,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``run``'s stop plan: "write photos" (time-boxed) before "close databases"; every photo queued is on disk and
    indexed after the stop, and the index is closed (its WAL folded in)."""
    from edge_agent.ops.signals import ShutdownPlan
    from edge_agent.runtime.commands import PHOTO_DRAIN_S

    parts = assemble(scene_config(str(tmp_path), mqtt={"enabled": False}, web={"enabled": False}), clock=clock,
                     review=False, photo_thread=True)
    agent = parts.agent
    gate = threading.Event()
    write = EvidenceStore.write
    monkeypatch.setattr(EvidenceStore, "write", lambda self, *a: (gate.wait(10), write(self, *a))[1])
    ids = [agent.evidence.save("A", f"v{i}", "violation_started", b"\xff\xd8photo\xff\xd9", None) for i in range(3)]
    assert agent.photo_writer is not None and agent.photo_writer.pending == 3  # the card stalled: all queued
    gate.set()
    plan = ShutdownPlan(budget_s=10.0)
    plan.add("stop sinks", parts.stop, timeout_s=2.0)
    plan.add("write photos", parts.drain_photos, timeout_s=PHOTO_DRAIN_S)
    plan.add("close databases", parts.close)
    assert [r.status for r in plan.run()] == ["ok", "ok", "ok"]
    assert not Path(str(agent.evidence.db_path) + "-wal").exists()  # closed: nothing was left to write
    again = EvidenceStore(agent.evidence.root, clock)
    assert all(again.image_path(i) is not None and again.image_path(i).is_file() for i in ids)  # type: ignore[union-attr]
    again.close()
