"""A start while another program (a ``sqlite3`` shell in a transaction, a backup that writes) holds ``evidence.db``'s
write lock. Before (probe leftovers29), the photo index's start-up ranking (an UPDATE) waited 5 s and the start failed,
``edge-agent run: cannot start: database error: database is locked``, exit 1, for as long as the lock held; past that,
the run ledger's start row failed too and the visits the previous run left open stayed open for good (a traceback).
Now the agent starts, holds what it cannot write and writes it when the lock goes. The lock is a second connection's
``BEGIN IMMEDIATE``; the waits are cut to 20 ms (the point is what follows them)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock, iso
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence import store as store_module
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.evidence.store import EvidenceStore
from tests.evidence.test_evidence_locked import locked

JPEG = b"\xff\xd8" + b"x" * 2000 + b"\xff\xd9"



def test_the_photo_index_opens_under_another_programs_lock_and_ranks_old_rows_once_it_is_free(
        tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index an older version wrote (a violating visit's identification ranked plain) needs one write at the
    start; under a lock it waits for the first row or retention instead of refusing the start."""
    monkeypatch.setattr(store_module, "LOCK_WAIT_S", 0.02)
    first = EvidenceStore(tmp_path, clock)
    ident = first.save("A", "v1", "vehicle_identified", JPEG, None, "粤B12345")
    first.save("A", "v1", "violation_started", JPEG, None, "粤B12345")
    first._db.execute("UPDATE evidence SET protected=0 WHERE id=?", (ident,))  # as an older version left it
    first.close()
    with locked(tmp_path / "evidence.db"):
        store = EvidenceStore(tmp_path, clock)  # raised "database is locked"
        rec = store.get(ident)
        assert rec is not None and not rec.protected  # read as it is; the write waits
        held = store.save("B", "v2", "vehicle_identified", JPEG, None)
        assert store.holds(held)
    assert store.enforce_retention() == 0
    rec = store.get(ident)
    assert rec is not None and rec.protected  # ranked with its violation before anything was deleted
    assert store.write_held() == 0 and store.get(held) is not None
    store.close()


def _recorder(db: Path, clock: FakeClock, bus: EventBus) -> ViolationRecorder:
    rec = ViolationRecorder(db, clock, bus, history_days=400)
    for conn in (rec.log._db, rec.runs._db):  # the 10 s waits ran out: the point is what follows
        conn.execute("PRAGMA busy_timeout=20")
    return rec


def test_a_start_under_a_lock_ends_the_previous_runs_visits_once_it_is_free_and_never_its_own(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """The previous run's visit in A is ended at the start, from a read, before this run's first event (leftovers32:
    ended only once the lock went, its departure came after the new car's arrival in A: a consumer reading A's
    events in order saw the new car leave); the start itself is recorded once the lock goes, ending nothing twice."""
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    seen: list[Event] = []
    rec, bus = _restarted(db, clock, seen)
    with locked(db), caplog.at_level(logging.WARNING):
        rec.close_previous_run()  # a traceback, and the old visit open for good
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="new"))  # held for the lock
        clock.advance(60)
        rec.mark_alive()  # still locked: a glance, nothing recorded
        assert [e.visit_id for e in seen] == ["old", "new"] and rec.log.held == 2  # the departure, then the arrival
        assert rec.runs._run is None
    assert not [r for r in caplog.records if r.exc_info]
    # when it is looked at again, as it is (an operator reading "each minute" waited a minute to stop it: leftovers29)
    assert "checked at each event written, each minute and at the stop" in caplog.text
    clock.advance(60)
    rec.mark_alive()  # the lock gone: the held events written, then the start recorded
    ended = [e for e in seen if e.type == EventType.VEHICLE_DEPARTED]
    assert [(e.visit_id, e.data["reason"]) for e in ended] == [("old", "agent_stopped")]
    assert rec.log.held == 0 and rec.runs._run is not None
    rec.mark_alive()  # once
    assert len([e for e in seen if e.type == EventType.VEHICLE_DEPARTED]) == 1
    rec.stop()


def test_a_start_put_off_names_the_bays_the_previous_run_left_a_car_in(
        tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start learns which bays the last run left holding a car from the ``agent_stopped`` departures it
    publishes (``Agent._watch_left_grounds``: their locks wait for the car seen leaving). Put off, it names them
    from what it can read — the index, and the events of that run still held (``B``: its arrival never reached the
    index) — and a start that ended them names none (its departures say it)."""
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: connect(*a, **{**kw, "timeout": 0.02}))
    db = tmp_path / "evidence.db"
    bus = EventBus()
    last = ViolationRecorder(db, clock, bus)
    last.start()
    assert last.close_previous_run() == set()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="a"))
    with locked(db):
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="b"))  # held
        last.stop()  # kept for the next start (held-events.jsonl)
    clock.advance(600)
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    with locked(db):
        rec = ViolationRecorder(db, clock, bus)
        rec.start()
        assert rec.log.held == 1
        assert rec.close_previous_run() == {"A", "B"}  # named none: both bays' locks forgot their cars
    assert not seen
    rec.mark_alive()
    assert sorted((e.visit_id, e.data["reason"]) for e in seen) == [("a", "agent_stopped"), ("b", "agent_stopped")]
    rec.stop()
    again = ViolationRecorder(db, clock, EventBus())
    again.start()
    assert again.close_previous_run() == set()
    again.stop()


def _killed_with_a_visit_open(db: Path, clock: FakeClock) -> None:
    """A run that parked a car in A and died a minute later (a power cut): its visit stays open in the log."""
    bus = EventBus()
    last = ViolationRecorder(db, clock, bus, history_days=400)
    last.start()
    last.close_previous_run()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="old"))
    clock.advance(60)
    last.mark_alive()
    last.marks.close()
    last.runs.close()
    last.log.close()


def _restarted(db: Path, clock: FakeClock, seen: list[Event]) -> tuple[ViolationRecorder, EventBus]:
    """The recorder of a start 10 minutes later, started, its bus's events into ``seen``."""
    clock.advance(600)
    bus = EventBus()
    bus.subscribe(seen.append)
    rec = _recorder(db, clock, bus)
    rec.start()
    return rec, bus


def _started_under_a_lock(db: Path, clock: FakeClock, seen: list[Event]) -> tuple[ViolationRecorder, EventBus]:
    """A start 10 minutes later while a backup holds the lock; a car parks in B meanwhile (held)."""
    rec, bus = _restarted(db, clock, seen)
    with locked(db):
        rec.close_previous_run()
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="new"))
        assert rec.log.held == 2 and rec.runs._run is None  # "old" departed at the start, then "new" arrived
    return rec, bus


def _next_start_ends(db: Path, clock: FakeClock) -> list[tuple[str | None, float]]:
    """A start 10 minutes later: the visits it ends (``agent_stopped``), with their stays."""
    clock.advance(600)
    bus = EventBus()
    after: list[Event] = []
    bus.subscribe(after.append)
    nxt = ViolationRecorder(db, clock, bus)
    nxt.start()
    nxt.close_previous_run()
    nxt.stop()
    return [(e.visit_id, e.data["stayed_s"]) for e in after if e.type == EventType.VEHICLE_DEPARTED]


def _runs(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT started_at, alive_at FROM runs ORDER BY id").fetchall()


def test_a_stop_within_the_minute_after_the_lock_went_records_the_run_and_its_visits_end_at_the_stop(
        tmp_path: Path, clock: FakeClock) -> None:
    """leftovers30: the put-off start waited for the minute's mark and a clean stop did not write it. Stopped 20 s
    after the lock went, the run was never recorded: the previous run's visit was not ended by it (only by the start
    after), this run's parked car was "ended" by the next start at its arrival, 20 s early, and the statistics
    counted the whole run as the agent's absence. The stop now records the start (the closing events published
    while the sinks still listen), so the next start ends B at this stop."""
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    seen: list[Event] = []
    rec, _ = _started_under_a_lock(db, clock, seen)
    started = clock.now()
    clock.advance(20)  # the lock gone, no event since, no minute's mark yet
    rec.stop()
    ended = [(e.visit_id, e.data["reason"]) for e in seen if e.type == EventType.VEHICLE_DEPARTED]
    assert ended == [("old", "agent_stopped")]  # by this stop, as the minute's mark would have
    runs = _runs(db)
    assert len(runs) == 2 and runs[1] == (iso(started), iso(clock.now()))

    assert _next_start_ends(db, clock) == [("new", 20.0)]  # before: 0.0, at its arrival
    assert len(_runs(db)) == 3


def test_the_first_event_written_after_the_lock_went_records_the_put_off_start_once(
        tmp_path: Path, clock: FakeClock) -> None:
    """Not the minute's mark: a run killed (a power cut, a crash) before that mark recorded no run either. The
    event that the log writes with nothing left held shows the lock gone; the start is recorded there, after every
    other subscriber has the event, exactly once whatever follows."""
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    seen: list[Event] = []
    rec, bus = _started_under_a_lock(db, clock, seen)
    clock.advance(5)
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="C", visit_id="third"))
    assert [(e.type, e.visit_id) for e in seen] == [
        (EventType.VEHICLE_DEPARTED, "old"), (EventType.VEHICLE_ARRIVED, "new"),
        (EventType.VEHICLE_ARRIVED, "third")]  # the previous run's visit ended at the start, and not again
    assert rec.runs._run is not None and rec.log.held == 0 and len(_runs(db)) == 2
    bus.publish(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="C", visit_id="third"))
    clock.advance(60)
    rec.mark_alive()
    rec.stop()
    assert [e.visit_id for e in seen if e.type == EventType.VEHICLE_DEPARTED] == ["old"]
    assert len(_runs(db)) == 2 and len({e.event_id for e in seen}) == len(seen)


def test_a_stop_while_the_lock_still_holds_records_no_run_and_says_so(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    seen: list[Event] = []
    rec, _ = _started_under_a_lock(db, clock, seen)
    with locked(db), caplog.at_level(logging.WARNING):
        rec.stop()
    assert "this run's start not recorded" in caplog.text
    assert len(_runs(db)) == 1
    # the departure published at the start is kept for the next start (held-events.jsonl), which writes it and so
    # ends "old" no second time; "new" (this run never recorded) at its last event
    assert [e.visit_id for e in seen if e.type == EventType.VEHICLE_DEPARTED] == ["old"]
    assert _next_start_ends(db, clock) == [("new", 0.0)]


class _Proxy:
    """The recorder's put-off-start lock, telling when someone waits for it (``blocking``)."""

    def __init__(self, inner: threading.Lock, waiting: threading.Event) -> None:
        self.inner, self.waiting = inner, waiting

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if blocking:
            self.waiting.set()
        return self.inner.acquire(blocking, timeout)

    def release(self) -> None:
        self.inner.release()


def test_a_stop_while_another_threads_event_records_the_put_off_start_waits_for_it(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """review33: an event from another thread (an MQTT command's lock event, a charger status) just after the lock
    went was recording the put-off start when the stop came. The stop did not wait: it said "still locked at stop,
    this run's start not recorded" (it was), and closed the log before that thread published the previous run's
    closing events: the backend got "old" departed, the log never had it, and the next start ended "old" again and
    published a second departure. (Held a moment earlier, inside its begin, the thread's start failed on the closed
    ledger: no run recorded though the lock had gone.) Now the stop waits for that try (a moment: its 0.1 s glance
    and its closing events): the run is recorded, its closing events out and logged once, its end at the stop. (The
    try is held between its row and its events here to make the moment certain.)"""
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    seen: list[Event] = []
    rec, bus = _started_under_a_lock(db, clock, seen)
    started = clock.now()
    entered, go = threading.Event(), threading.Event()
    real_begin = rec.runs.begin

    def begin(*args: object, **kw: object) -> list[Event]:
        closing = real_begin(*args, **kw)  # type: ignore[arg-type]
        entered.set()  # recorded; its closing events about to go out
        assert go.wait(10)
        return closing

    rec.runs.begin = begin  # type: ignore[method-assign]
    rec._beginning = _Proxy(rec._beginning, go)  # type: ignore[assignment]
    clock.advance(20)
    other = threading.Thread(target=bus.publish, args=(Event.make(
        EventType.CHARGER_STATUS, clock, bay_id="B", visit_id="new", data={"status": "charging"}),))
    other.start()
    assert entered.wait(10)
    with caplog.at_level(logging.WARNING):
        stopping = threading.Thread(target=rec.stop)
        stopping.start()
        stopping.join(10)
        go.set()  # (without the wait, the stop had finished by now)
        other.join(10)
    assert not stopping.is_alive() and not other.is_alive()
    assert "this run's start not recorded" not in caplog.text
    runs = _runs(db)
    assert len(runs) == 2 and runs[1] == (iso(started), iso(clock.now()))
    assert [e.visit_id for e in seen if e.type == EventType.VEHICLE_DEPARTED] == ["old"]

    assert _next_start_ends(db, clock) == [("new", 20.0)]  # "old" ended once, by the run above; "new" at its stop


def test_this_runs_own_events_held_before_the_start_do_not_put_the_previous_runs_end_off(
        tmp_path: Path, clock: FakeClock) -> None:
    """review39: ``assemble`` starts the locks after the recorder, so each lock's start-up ``lock_moved`` is held for
    the lock before ``close_previous_run`` runs. That start took "events are held" for the last run's (which must
    be written first) and ended the previous run's visits only once the lock went: on every site with a lock, A's
    ``agent_stopped`` departure came after the new car's arrival in A (leftovers32's order, undone). Only the last
    run's held events (``held-events.jsonl``) put it off."""
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    seen: list[Event] = []
    rec, bus = _restarted(db, clock, seen)
    with locked(db):
        bus.publish(Event.make(EventType.LOCK_MOVED, clock, bay_id="A", data={"lock_id": "LA", "state": "down"}))
        assert rec.log.held == 1 and not rec.log.held_from_before
        rec.close_previous_run()
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="new"))
        assert rec.runs._run is None
    clock.advance(60)
    rec.mark_alive()
    rec.stop()
    assert [(e.type, e.visit_id) for e in seen if e.type != EventType.LOCK_MOVED] == [
        (EventType.VEHICLE_DEPARTED, "old"), (EventType.VEHICLE_ARRIVED, "new")]
    assert len(_runs(db)) == 2 and _next_start_ends(db, clock) == [("new", 60.0)]


def test_the_closing_events_of_a_put_off_start_wait_for_the_lock_no_longer_than_a_glance(
        tmp_path: Path, clock: FakeClock) -> None:
    """review39: the run ledger's start had just waited out the lock; the first closing event's write then waited
    the log's 10 s for it again (a start under a lock took 20 s, ``agent.start`` on the main thread, every publisher
    behind the log's lock meanwhile). It glances now (``HELD_RETRY_WAIT_S``): the log keeps its real 10 s here, the
    ledger's wait is cut."""
    db = tmp_path / "evidence.db"
    _killed_with_a_visit_open(db, clock)
    clock.advance(600)
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    rec = ViolationRecorder(db, clock, bus)
    rec.runs._db.execute("PRAGMA busy_timeout=20")
    rec.start()
    with locked(db):
        began = time.monotonic()
        rec.close_previous_run()
        took = time.monotonic() - began
        assert [e.visit_id for e in seen] == ["old"] and rec.log.held == 1
    assert took < 5, f"the closing events waited {took:.1f} s for a lock the ledger had just waited out"
    rec.mark_alive()
    assert rec.log.held == 0 and rec.runs._run is not None
    rec.stop()
