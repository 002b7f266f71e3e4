"""A power cut must not take from the review page a violation whose event the (synced) outbox holds.

On the bus the MQTT link subscribes as it is built, the violation log at the recorder's start: each event went into
the outbox (``synchronous=FULL``, on the card when ``put`` returns) and only then into the log, which committed at
``synchronous=NORMAL`` (the WAL synced at checkpoints only). A power cut then kept the event the backend received and
lost the violation row the property manager works from; its undecided photo then no longer held past
``max_age_days`` either.

The cut is taken as the outbox's ``put`` returns, and keeps what was synced (as in ``test_evidence_power_cut``): the
main database file as the last checkpoint wrote it, its WAL only if the log's connection syncs it at each commit."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from edge_agent.events.outbox import Outbox
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.violations import ViolationFilter, ViolationLog
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, ScriptedSource, hold, scene_config


def power_cut(log: ViolationLog, root: Path, into: Path) -> Path:
    """The data folder ``root`` as a power cut now leaves it: ``evidence.db``'s WAL only if the log syncs it at each
    commit (the outbox's is synced: ``synchronous=FULL``)."""
    wal_synced = log._db.execute("PRAGMA synchronous").fetchone()[0] >= 2
    skip = [] if wal_synced else [log.db_path.name + "-wal", log.db_path.name + "-shm"]
    shutil.copytree(root, into, ignore=shutil.ignore_patterns(*skip))
    return into


def violation(clock, bay: str = "A", visit: str = "v1") -> Event:  # noqa: ANN001
    return Event.make(EventType.VIOLATION_STARTED, clock, bay_id=bay, visit_id=visit,
                      data={"plate": "京A12345", "colour": "blue", "reason": "fuel_vehicle"})


def _assembled(tmp_path, clock):  # noqa: ANN001, ANN202
    """The agent as ``run`` builds it, MQTT on (no broker needed: the outbox takes events offline)."""
    cfg = scene_config(str(tmp_path / "data"), mqtt={"enabled": True, "brokers": ["mqtt://127.0.0.1:1"]})
    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, EMPTY), clock))
    assert parts.link is not None and parts.recorder is not None
    return parts


def test_the_violation_is_on_the_card_when_the_outbox_holds_its_event(tmp_path, clock):
    """Before: the cut at the outbox's put found no row (the log had not written it yet, and wrote it unsynced)."""
    parts = _assembled(tmp_path, clock)
    log, outbox = parts.recorder.log, parts.link.outbox
    parts.recorder.start()  # the recorder subscribes at its start, long after the link did
    log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # what came before is in the main file, synced
    cuts: list[Path] = []
    put = outbox.put

    def put_then_cut(topic, payload, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        put(topic, payload, *args, **kwargs)
        if json.loads(payload).get("type") == "violation_started":
            cuts.append(power_cut(log, tmp_path / "data", tmp_path / "after-cut"))

    outbox.put = put_then_cut  # type: ignore[method-assign]
    ev = violation(clock)
    parts.agent.bus.publish(ev)
    parts.recorder.stop()
    parts.link.stop(flush_s=0)

    assert len(cuts) == 1
    cut = cuts[0]
    queued = [json.loads(r.payload) for r in Outbox(cut / outbox.path.relative_to(tmp_path / "data")).pending()]
    assert [e["event_id"] for e in queued if e["type"] == "violation_started"] == [ev.event_id]
    after = ViolationLog(cut / log.db_path.relative_to(tmp_path / "data"), clock)
    try:
        got = [(v.visit_id, v.plate, v.decision) for v in after.iter_all(ViolationFilter())]
        assert got == [("v1", "京A12345", "open")], "the backend got the violation, the review page lacks it"
    finally:
        after.close()


def test_a_recorded_violation_survives_a_power_cut(tmp_path, clock):
    """The log alone: once ``record`` returned, the row is synced (before: in an unsynced WAL, gone at the cut)."""
    log = ViolationLog(tmp_path / "data" / "evidence.db", clock)
    log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log.record(violation(clock))
    cut = power_cut(log, tmp_path / "data", tmp_path / "after-cut")
    log.close()
    after = ViolationLog(cut / "evidence.db", clock)
    try:
        assert [v.visit_id for v in after.iter_all(ViolationFilter())] == ["v1"]
    finally:
        after.close()


def test_a_locked_log_still_lets_the_event_into_the_outbox(tmp_path, clock):
    """Written first, the log must not keep the event from MQTT: a database another program holds (a backup) holds
    the event in memory as before, and the outbox takes it right after."""
    parts = _assembled(tmp_path, clock)
    log, outbox = parts.recorder.log, parts.link.outbox
    parts.recorder.start()
    log._db.execute("PRAGMA busy_timeout=20")  # the recorder's 10 s wait ran out: the point is what follows
    other = sqlite3.connect(log.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        ev = violation(clock)
        parts.agent.bus.publish(ev)
        assert log.held == 1
        assert ev.event_id in [json.loads(r.payload).get("event_id") for r in outbox.pending()]
    finally:
        other.execute("ROLLBACK")
        other.close()
    parts.recorder.mark_alive()
    assert log.held == 0 and [v.visit_id for v in log.iter_all(ViolationFilter())] == ["v1"]
    parts.recorder.stop()
    parts.link.stop(flush_s=0)


def test_the_locks_hear_each_event_after_the_log_as_before_it_went_first(tmp_path, clock):
    """``first`` moves the log before the outbox only: the lock controller, subscribed as the locks start (after the
    recorder), heard every bay event after the log before 2026-12-05 too, so a backup's wait delays it no more."""
    cfg = scene_config(str(tmp_path / "data"), mqtt={"enabled": True, "brokers": ["mqtt://127.0.0.1:1"]},
                       locks=[{"id": "L1", "bay": "A", "driver": "simulator"}])
    parts = assemble(cfg, clock=clock, source=ScriptedSource(hold(1, EMPTY), clock), lock_thread=False)
    assert parts.locks is not None and parts.recorder is not None and parts.link is not None
    parts.recorder.start()
    parts.locks.start()
    try:
        names = [getattr(h, "__qualname__", "") for h, _ in parts.agent.bus._event_subs]
        log_at, outbox_at = names.index("ViolationLog.record"), names.index("MqttLink._on_event")
        locks_at = names.index("LockController.on_event")
        assert log_at < outbox_at and log_at < locks_at, names
    finally:
        parts.locks.stop()
        parts.recorder.stop()
        parts.link.stop(flush_s=0)
