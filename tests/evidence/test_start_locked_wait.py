"""A start under another program's lock on ``evidence.db`` (a ``sqlite3`` shell, a backup) takes a glance, not the
connection's 10 s wait (probe chaos41). The start is put off to when the lock goes anyway
(``tests/evidence/test_start_locked.py``); the wait only held the frame loop: with a real process holding the lock, a
``run`` reached "agent running" 10 s late, 20 s with events the last stop kept for the lock (``held-events.jsonl``):
no frame looked at, no command's lowering driven by the loop. The waits here are the real ones (no cut
``busy_timeout``); what is measured is the start's own wall time."""

from __future__ import annotations

import time
from pathlib import Path

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from tests.evidence.test_evidence_locked import locked
from tests.evidence.test_start_locked import _killed_with_a_visit_open

#: far below the connection's 10 s, far above a glance on a loaded test machine
LIMIT_S = 4.0


def _timed_start(db: Path, clock: FakeClock) -> tuple[ViolationRecorder, float]:
    """A recorder built and its start run (as ``run`` does), and how long that took."""
    t0 = time.monotonic()
    rec = ViolationRecorder(db, clock, EventBus(), history_days=400)
    rec.start()
    rec.close_previous_run()
    return rec, time.monotonic() - t0


def test_a_start_under_a_lock_glances_and_goes_on(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    clock.advance(600)
    with locked(db):
        rec, took = _timed_start(db, clock)
        assert rec.runs._run is None  # put off, as before
    assert took < LIMIT_S, f"the start waited {took:.1f} s for another program's lock"
    rec.mark_alive()  # the lock gone: recorded
    assert rec.runs._run is not None
    rec.stop()


def test_a_start_with_kept_events_under_a_lock_glances_and_goes_on(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    clock.advance(600)
    bus = EventBus()
    rec = ViolationRecorder(db, clock, bus, history_days=400)
    rec.start()
    for conn in (rec.log._db, rec.runs._db):  # this run's own waits are not the point
        conn.execute("PRAGMA busy_timeout=20")
    with locked(db):
        rec.close_previous_run()
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="new"))
        rec.stop()  # kept in held-events.jsonl for the next start
    assert (db.parent / "held-events.jsonl").exists()
    clock.advance(600)
    with locked(db):
        nxt, took = _timed_start(db, clock)
        assert nxt.log.held > 0
    assert took < LIMIT_S, f"the start waited {took:.1f} s for another program's lock"
    nxt.mark_alive()
    assert nxt.log.held == 0 and nxt.runs._run is not None
    nxt.stop()
