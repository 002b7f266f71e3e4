"""A slow SD card: the run ledger's minute mark is off the frame loop (``evidence/runs.AliveMarks``, probe sdcard28).

The real agent as ``run`` assembles it (photos and marks on threads of their own), empty bays for a minute and a
half, an injected clock moved by ``SYNC_S`` at each ledger mark written on the loop's thread. Before: the mark (a
synced commit of the evidence index) held the loop once a minute — a quiet site's only loop pause; at a card's
stall past a lock's ``occupancy_max_age_s`` a raise asked meanwhile was refused ``occupancy_stale``. The mark that
reaches the ledger is the one the loop asked for, stamped when it asked."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from edge_agent.evidence.runs import AliveMarks, RunLedger
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config
from tests.runtime.test_slow_card_photos import FPS, step_through

SYNC_S = 4.0  # a worn card collecting garbage: past the locks' default occupancy_max_age_s (3 s)


def test_the_minute_mark_leaves_the_loop_and_still_reaches_the_ledger(tmp_path: Path, clock: FakeClock,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    loop = threading.current_thread()
    on_loop: list[datetime] = []
    mark = RunLedger.mark_alive

    def slow_mark(self: RunLedger, at: datetime | None = None) -> None:
        mark(self, at)
        if threading.current_thread() is loop:
            on_loop.append(clock.now())
            clock.advance(SYNC_S)

    monkeypatch.setattr(RunLedger, "mark_alive", slow_mark)
    source = ScriptedSource(hold(90, EMPTY), clock)
    parts = assemble(scene_config(str(tmp_path), mqtt={"enabled": False}, web={"enabled": False}), clock=clock,
                     source=source, photo_thread=True)
    agent, recorder = parts.agent, parts.recorder
    assert recorder is not None
    parts.start()
    asked: list[datetime] = []
    request = recorder.marks.request
    monkeypatch.setattr(recorder.marks, "request", lambda at: (asked.append(at), request(at)))
    try:
        longest = step_through(agent, clock, source.duration)
        assert recorder.marks.drain(timeout=30)
        assert len(asked) == 2 and not on_loop  # the first turn's and a minute later's: none written on the loop
        assert longest < 1 / FPS, longest  # no turn held for a mark
        db = sqlite3.connect(agent.evidence.db_path)
        alive = db.execute("SELECT alive_epoch FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
        db.close()
        assert alive == asked[-1].timestamp()  # stamped when the loop asked, not when the card got to it
    finally:
        parts.stop()
        parts.close()


def test_a_clean_stop_waits_for_a_mark_being_written_and_its_own_mark_is_the_last(tmp_path: Path,
                                                                                  clock: FakeClock) -> None:
    """The minute's mark caught mid-write by the stop finishes before the stop's own mark and the close: the ledger
    ends at the stop, never at the older minute's mark, and no write meets a closed connection."""
    ledger = RunLedger(tmp_path / "evidence.db", clock)
    ledger.begin()
    gate, entered = threading.Event(), threading.Event()
    mark = ledger.mark_alive

    def stalled(at: datetime | None = None) -> None:
        entered.set()
        assert gate.wait(10)
        mark(at)

    ledger.mark_alive = stalled  # type: ignore[method-assign]
    marks = AliveMarks(ledger)
    minute = clock.now()
    marks.request(minute)
    assert entered.wait(10)  # the thread holds the minute's mark, the card stalled
    clock.advance(30)
    closer = threading.Thread(target=marks.close)
    closer.start()
    assert marks.pending  # still being written: close waits for it
    gate.set()
    closer.join(10)
    assert not closer.is_alive() and marks.failed == 0
    mark(clock.now())  # the stop's own mark (``ViolationRecorder.stop``)
    ledger.close()
    db = sqlite3.connect(tmp_path / "evidence.db")
    alive = db.execute("SELECT alive_epoch FROM runs").fetchone()[0]
    db.close()
    assert alive == clock.now().timestamp() != minute.timestamp()
