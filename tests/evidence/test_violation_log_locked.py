"""The violation log on a database another program holds locked past the recorder's wait (a backup, ``evidence
forget``, a copy being taken): the events meanwhile are held and written once the lock goes, like a full disk's.
Before, each was tried as a batch, then again on its own, and dropped ("not recorded: database is locked"): the
review page never showed a violation that began meanwhile, and its visit's timeline had a hole."""

from __future__ import annotations

import logging
import sqlite3

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.evidence.violations import ViolationFilter


def _violation_and_departure(bus, clock) -> None:
    """A fuel car's violation of visit v1 in bay A, its end and the car's departure, 30 s apart."""
    clock.advance(30)
    bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="v1",
                           data={"plate": "京A12345", "reason": "fuel_vehicle"}))
    clock.advance(30)
    bus.publish(Event.make(EventType.VIOLATION_ENDED, clock, bay_id="A", visit_id="v1",
                           data={"plate": "京A12345", "reason": "departed"}))
    bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id="v1"))


def test_events_a_locked_database_kept_out_are_held_and_written_when_it_is_free(tmp_path, caplog):
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    rec.log._db.execute("PRAGMA busy_timeout=20")  # the recorder's 10 s wait ran out: the point is what follows
    other = sqlite3.connect(tmp_path / "evidence.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.INFO):
            bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
            bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="v1",
                                   data={"plate": "京A12345", "reason": "fuel_vehicle"}))
            assert rec.log.held == 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    rec.mark_alive()  # the minute's hook writes them without waiting for a new event
    assert rec.log.held == 0
    assert [v.visit_id for v in rec.log.iter_all(ViolationFilter())] == ["v1"]
    assert [e.type for e in rec.log.timeline("v1")] == [EventType.VEHICLE_ARRIVED, EventType.VIOLATION_STARTED]
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(said) == 1 and "held in memory" in said[0] and "locked" in said[0], said  # once, naming why
    assert not any("not recorded" in r.getMessage() for r in caplog.records)
    rec.stop()


def test_events_held_for_a_lock_through_a_stop_are_kept_and_written_at_the_next_start(tmp_path, caplog):
    """An agent stopped (an upgrade, a restart) while a backup holds the database: the held events were lost, the
    violation they began never reached the review page, and the next start ended the visit again as
    ``agent_stopped`` though its departure had been published. They are kept beside the database (synced) and
    written at the next start, before the run ledger ends what the last run left open; then the file goes."""
    clock = FakeClock()
    bus = EventBus()
    db = tmp_path / "evidence.db"
    rec = ViolationRecorder(db, clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    rec.mark_alive()
    rec.log._db.execute("PRAGMA busy_timeout=20")  # the recorder's 10 s wait ran out: the point is what follows
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        _violation_and_departure(bus, clock)
        assert rec.log.held == 3
        with caplog.at_level(logging.WARNING):
            rec.log.close()  # the stop, the lock still held
    finally:
        other.execute("ROLLBACK")
        other.close()
    kept = tmp_path / "held-events.jsonl"
    assert len(kept.read_text(encoding="utf-8").splitlines()) == 3
    said = [r.getMessage() for r in caplog.records if "at stop" in r.getMessage()]
    assert len(said) == 1 and "3 held event(s) kept" in said[0] and "locked" in said[0], said
    assert not any("not recorded" in r.getMessage() for r in caplog.records)
    rec.runs.close()

    clock.advance(600)
    bus = EventBus()
    again = ViolationRecorder(db, clock, bus, history_days=400)  # the next start
    published: list[Event] = []
    bus.subscribe(published.append)
    again.start()
    again.close_previous_run()
    assert [v.visit_id for v in again.log.iter_all(ViolationFilter())] == ["v1"]
    assert [e.type for e in again.log.timeline("v1")] == [EventType.VEHICLE_ARRIVED, EventType.VIOLATION_STARTED,
                                                          EventType.VIOLATION_ENDED, EventType.VEHICLE_DEPARTED]
    assert published == []  # its departure was published: not ended again as agent_stopped
    assert not kept.exists()  # it names plates: gone once written
    again.stop()


def test_a_stop_that_cannot_keep_the_held_events_names_the_lock_and_what_the_page_loses(tmp_path, caplog):
    """Where they cannot be kept either (here the file's name is taken by a folder), the stop's line says what is
    lost, naming the lock (it said "disk still full" with room to spare until 2026-12-05)."""
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    rec.log._db.execute("PRAGMA busy_timeout=20")
    (tmp_path / "held-events.jsonl").mkdir()
    other = sqlite3.connect(tmp_path / "evidence.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="v1",
                               data={"plate": "京A12345", "reason": "fuel_vehicle"}))
        assert rec.log.held == 1
        with caplog.at_level(logging.ERROR):
            rec.log.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    said = [r.getMessage() for r in caplog.records if "at stop" in r.getMessage()]
    assert len(said) == 1 and "1 held event(s) not recorded" in said[0], said
    assert "locked" in said[0] and "disk" not in said[0], said
    assert "review page" in said[0], said  # what the operator loses: the violation on the page
    rec.runs.close()


def test_while_events_are_held_for_a_lock_each_new_one_does_not_wait_the_whole_wait_again(tmp_path):
    """The recorder writes on the publisher's thread (the frame loop). Held for a lock (a backup holding it for
    minutes), every later event tried the whole batch again with the connection's full wait: 10 s of the frame loop
    per event, for as long as the lock lasted. The first event of an episode waits it out; the next ones, and the
    minute's retry, only glance (``HELD_RETRY_WAIT_S``), and are all written once the lock goes."""
    import time

    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    wait_ms = 2500  # the recorder's wait, shortened (10 s in the agent); far over the glances, so load cannot blur it
    rec.log._db.execute(f"PRAGMA busy_timeout={wait_ms}")
    other = sqlite3.connect(tmp_path / "evidence.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))  # waits it out
        start = time.monotonic()
        for kind in (EventType.VEHICLE_IDENTIFIED, EventType.VIOLATION_STARTED, EventType.VIOLATION_ENDED,
                     EventType.VEHICLE_DEPARTED):
            bus.publish(Event.make(kind, clock, bay_id="A", visit_id="v1",
                                   data={"plate": "京A12345", "reason": "fuel_vehicle"}))
        rec.log.write_held()  # the minute's retry (``mark_alive``)
        took = time.monotonic() - start
        assert rec.log.held == 5
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert took < wait_ms / 1000, f"{took:.2f} s for 5 tries held up by a lock"  # was 5 waits: 12.5 s
    assert int(rec.log._db.execute("PRAGMA busy_timeout").fetchone()[0]) == wait_ms  # its own wait back after
    rec.log.write_held()
    assert rec.log.held == 0
    assert len(rec.log.timeline("v1")) == 5
    rec.stop()


def test_a_crafted_held_events_file_starts_the_agent_with_only_the_events_it_could_have_written(tmp_path, caplog):
    """``held-events.jsonl`` is read at every start from the evidence folder, which others may write in: a line
    ``[[[[…`` was ``json``'s ``RecursionError`` out of the log's constructor (the start a traceback), and ``NaN`` /
    ``Infinity`` reached a violation row as its confidence. Each such line is skipped with a line naming it; the
    events the agent could have written there are written."""
    import json
    import math

    clock = FakeClock()
    good = Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="v1",
                      data={"plate": "京A12345", "reason": "fuel_vehicle", "confidence": 0.9})
    bad_nan = Event.make(EventType.VIOLATION_STARTED, clock, bay_id="B", visit_id="v2",
                         data={"plate": "京A54321", "reason": "fuel_vehicle", "confidence": math.inf})
    naive = {**good.to_dict(), "event_id": "00000000-0000-4000-8000-000000000001", "visit_id": "v3",
             "ts": "2026-12-05T10:00:00"}
    not_text = {**good.to_dict(), "event_id": "00000000-0000-4000-8000-000000000002", "type": {"a": 1}}
    lines = [json.dumps(good.to_dict(), ensure_ascii=False), "[" * 100_000 + "]" * 100_000,
             json.dumps(bad_nan.to_dict(), ensure_ascii=False), json.dumps(naive), json.dumps(not_text)]
    kept = tmp_path / "held-events.jsonl"
    kept.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        rec = ViolationRecorder(tmp_path / "evidence.db", clock, EventBus(), history_days=400)
    rows = list(rec.log.iter_all(ViolationFilter()))
    assert [(v.visit_id, v.confidence) for v in rows] == [("v1", 0.9)]
    skipped = sorted(int(m.split(" line ")[1].split()[0]) for r in caplog.records
                     if " is no event, skipped" in (m := r.getMessage()))
    assert skipped == [2, 3, 4, 5], [r.getMessage()[:200] for r in caplog.records]
    assert not kept.exists()
    rec.runs.close()


def test_a_held_events_file_larger_than_a_stop_writes_is_not_read(tmp_path, caplog):
    """A sparse ``held-events.jsonl`` of any size costs no disk, and the start read it whole (20 GB: killed for
    memory). One larger than a stop writes is said and not read; the start goes on."""
    from edge_agent.evidence.violations import HELD_FILE_MAX_BYTES

    kept = tmp_path / "held-events.jsonl"
    with kept.open("wb") as fh:
        fh.truncate(HELD_FILE_MAX_BYTES + 1)
    with caplog.at_level(logging.ERROR):
        rec = ViolationRecorder(tmp_path / "evidence.db", FakeClock(), EventBus(), history_days=400)
    said = [r.getMessage() for r in caplog.records]
    assert any("cannot read the events kept at the last stop" in m and "MiB a stop writes" in m for m in said), said
    assert list(rec.log.iter_all(ViolationFilter())) == []
    rec.runs.close()


def test_a_stop_keeps_the_newest_held_events_the_next_start_reads_and_names_the_rest(tmp_path, caplog, monkeypatch):
    """The start reads at most ``HELD_FILE_MAX_BYTES`` of ``held-events.jsonl`` (refusing a larger file whole), but
    the stop wrote every held event: more than that (10,000 held events of over 6.7 KiB each) and the next start
    refused the file, every event lost. The stop keeps the newest that fit, names the oldest it drops, and the next
    start writes those it kept. (The cap made small here: the rule, not 64 MiB of events, is under test.)"""
    from edge_agent.evidence import violations

    monkeypatch.setattr(violations, "HELD_FILE_MAX_BYTES", 64 << 10)
    clock = FakeClock()
    bus = EventBus()
    db = tmp_path / "evidence.db"
    rec = ViolationRecorder(db, clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    rec.log._db.execute("PRAGMA busy_timeout=20")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        for k in range(30):  # each line about 4 KiB: 30 of them are about twice what the start reads
            clock.advance(10)
            bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id=f"v{k:02d}",
                                   data={"plate": "京A12345", "reason": "fuel_vehicle", "note": "x" * 4000}))
        assert rec.log.held == 30
        with caplog.at_level(logging.WARNING):
            rec.log.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    kept = tmp_path / "held-events.jsonl"
    lines = kept.read_bytes().splitlines()
    assert kept.stat().st_size <= 64 << 10 and 10 <= len(lines) < 30
    said = [r.getMessage() for r in caplog.records]
    dropped = [m for m in said if "MiB the next start reads" in m]
    assert len(dropped) == 1 and dropped[0].startswith(f"violation log: {30 - len(lines)} held event(s), the oldest"), said
    assert any(f"{len(lines)} held event(s) kept in" in m for m in said), said
    rec.runs.close()

    again = ViolationRecorder(db, clock, EventBus(), history_days=400)  # the next start
    assert [v.visit_id for v in again.log.iter_all(ViolationFilter())][::-1] == \
        [f"v{k:02d}" for k in range(30 - len(lines), 30)]  # the newest, all written
    assert not kept.exists()
    again.runs.close()


def test_events_held_for_a_lock_survive_a_power_cut_and_are_written_at_the_next_start(tmp_path):
    """Held events went into ``held-events.jsonl`` only at a stop: a power cut (or a SIGKILL, the watchdog's) while a
    backup held the database lost them from the review page — the violation that began meanwhile, and the visit's
    departure, which the next start then ended again as ``agent_stopped`` — though the outbox had them all (probe
    leftovers25). Each held event is in that file (synced) as it is held now. The cut copies the folder as it is on
    the card at that moment (everything the log wrote is synced: ``synchronous=FULL``, the file's fsync)."""
    import shutil

    clock = FakeClock()
    bus = EventBus()
    data = tmp_path / "data"
    data.mkdir()
    rec = ViolationRecorder(data / "evidence.db", clock, bus, history_days=400)
    rec.runs.begin()
    rec.start()
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    rec.mark_alive()
    rec.log._db.execute("PRAGMA busy_timeout=20")  # the recorder's 10 s wait ran out: the point is what follows
    other = sqlite3.connect(data / "evidence.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        _violation_and_departure(bus, clock)
        assert rec.log.held == 3
        cut = tmp_path / "after-cut"
        shutil.copytree(data, cut)  # the power goes: no stop, nothing more written
    finally:
        other.execute("ROLLBACK")
        other.close()

    clock.advance(600)
    bus = EventBus()
    again = ViolationRecorder(cut / "evidence.db", clock, bus, history_days=400)  # the next start
    published: list[Event] = []
    bus.subscribe(published.append)
    again.start()
    again.close_previous_run()
    assert [v.visit_id for v in again.log.iter_all(ViolationFilter())] == ["v1"], "the page lost the violation"
    assert [e.type for e in again.log.timeline("v1")] == [EventType.VEHICLE_ARRIVED, EventType.VIOLATION_STARTED,
                                                          EventType.VIOLATION_ENDED, EventType.VEHICLE_DEPARTED]
    assert published == []  # its departure was published: not ended again as agent_stopped
    assert not (cut / "held-events.jsonl").exists()  # it names plates: gone once written
    again.stop()
    rec.log.write_held()  # the lock went: the running log (the copy's original) writes them, and drops its file
    assert rec.log.held == 0 and not (data / "held-events.jsonl").exists()
    rec.stop()


def test_a_long_episode_keeps_the_held_file_near_what_memory_holds_and_a_start_reads_only_that(tmp_path,
                                                                                                monkeypatch):
    """Each held event is appended to ``held-events.jsonl``, but memory keeps only the newest ``HELD_MAX``: a long
    episode (a day of a full disk on a busy pole) grew the file up to its 64 MiB cap, ~250 000 events, and the next
    start parsed and checked every line before keeping the newest ``HELD_MAX`` — 4 s and 330 MiB on a desktop core
    before the agent ran, on a device with 1 GB (probe review25). The file is written again from memory once it
    holds twice ``HELD_MAX``, and a start parses no more than the newest ``HELD_MAX`` lines (and a torn one)."""
    import json

    from edge_agent.evidence import violations as V
    from edge_agent.evidence.violations import ViolationLog

    monkeypatch.setattr(V, "HELD_MAX", 5)
    clock = FakeClock()
    db = tmp_path / "evidence.db"
    log = ViolationLog(db, clock)
    log._db.execute("PRAGMA busy_timeout=20")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    held = tmp_path / V.HELD_FILE
    try:
        most = 0
        for i in range(40):
            clock.advance(1)
            log.record(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id=f"v{i:02d}"))
            most = max(most, len(held.read_bytes().splitlines()))
        assert most <= 2 * 5, most  # 40 before: every event the episode held
        lines = held.read_bytes().splitlines()
        assert [json.loads(x)["visit_id"] for x in lines][-5:] == [f"v{i:02d}" for i in range(35, 40)]
        # a file a long episode of an older agent left: many more lines than a start keeps
        held.write_bytes(b"".join(lines[:1] * 50 + [x + b"\n" for x in lines]))
        parsed: list[bytes] = []
        real = V.held_event
        monkeypatch.setattr(V, "held_event", lambda line: (parsed.append(line), real(line))[1])
    finally:
        other.execute("ROLLBACK")
        other.close()
    again = ViolationLog(db, clock)
    assert len(parsed) <= 5 + 1, len(parsed)  # 50 + len(lines) before
    assert again.held == 0 and not held.exists()
    assert [r[0] for r in again._db.execute("SELECT visit_id FROM events ORDER BY ts_epoch")][-5:] == \
        [f"v{i:02d}" for i in range(35, 40)]
