"""The review record on an SD card that runs for years: decided violations, their decisions, the audit log
and the run ledger only grew. ``evidence.review_days`` bounds the first three (an undecided violation waits
for its decision); the ledger keeps the runs ``history_days`` covers, and always the newest."""

from __future__ import annotations

import sqlite3

from edge_agent.clock import FakeClock
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.evidence.violations import ViolationFilter

DAY = 86400.0


def _violation(bus: EventBus, clock: FakeClock, bay: str, visit: str, stay_s: float = 600) -> None:
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id=bay, visit_id=visit))
    bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id=bay, visit_id=visit,
                           data={"plate": "京A12345", "reason": "fuel_vehicle"}))
    clock.advance(stay_s)
    bus.publish(Event.make(EventType.VIOLATION_ENDED, clock, bay_id=bay, visit_id=visit, data={"reason": "departed"}))
    bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id=bay, visit_id=visit, data={"stayed_s": stay_s}))


def _ids(rec: ViolationRecorder) -> dict[str, int]:
    return {v.visit_id: v.id for v in rec.log.iter_all(ViolationFilter())}


def test_decided_violations_and_the_audit_go_after_review_days_an_undecided_one_stays(tmp_path):
    clock = FakeClock()
    bus = EventBus()
    db = tmp_path / "evidence.db"
    rec = ViolationRecorder(db, clock, bus, history_days=30, review_days=60)
    rec.runs.begin()
    rec.start()
    try:
        for visit in ("confirmed", "dismissed", "undecided", "decided-late"):
            _violation(bus, clock, "A", visit)
        ids = _ids(rec)
        rec.log.decide(ids["confirmed"], "confirmed", "alice")
        rec.log.decide(ids["dismissed"], "dismissed", "alice", reason="charging card shown")
        rec.log.audit("alice", "violation_confirmed", f"violation:{ids['confirmed']}")
        clock.advance(50 * DAY)
        rec.log.decide(ids["decided-late"], "confirmed", "bob")  # judged 50 days after it happened
        rec.log.audit("bob", "violation_confirmed", f"violation:{ids['decided-late']}")
        clock.advance(11 * DAY)  # 61 days after the first three, 11 after the late decision
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="today"))  # the hourly pass
        assert set(_ids(rec)) == {"undecided", "decided-late"}
        assert rec.log.decisions(ids["confirmed"]) == [] and rec.log.decisions(ids["dismissed"]) == []
        assert [d["user"] for d in rec.log.decisions(ids["decided-late"])] == ["bob"]
        assert [a["user"] for a in rec.log.audit_entries()] == ["bob"]
        # the forgotten violations' stories are plain bay events now: history_days (30) took them
        assert rec.log.timeline("confirmed") == [] and rec.log.timeline("dismissed") == []
        assert len(rec.log.timeline("undecided")) == 4  # an open case keeps its story
        clock.advance(50 * DAY)  # the late decision is now 61 days old; the undecided one is 111 days old
        bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="B", visit_id="today"))
        assert set(_ids(rec)) == {"undecided"}
    finally:
        rec.stop()


def test_the_run_ledger_keeps_the_newest_runs_only(tmp_path):
    clock = FakeClock()
    db = tmp_path / "evidence.db"
    t0 = clock.now().timestamp()
    for _ in range(5):  # five starts a day apart (a nightly reboot), each stopped cleanly
        bus = EventBus()
        rec = ViolationRecorder(db, clock, bus, history_days=2, review_days=60)
        rec.runs.begin()
        rec.start()
        bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id=f"v{clock.monotonic()}"))
        clock.advance(DAY)
        rec.stop()
    with sqlite3.connect(db) as con:
        alive = [r[0] for r in con.execute("SELECT alive_epoch FROM runs ORDER BY id")]
    # the fifth start's pass forgot the first run (last alive 3 days before it, over history_days); the rest stay
    assert alive == [t0 + k * DAY for k in (2, 3, 4, 5)]


def test_review_days_shorter_than_the_bay_history_is_refused_naming_the_key(tmp_path, repo, capsys):
    """A decided violation forgotten before its visit's events: the statistics would count a dismissed one
    again, and the events would no longer be anyone's story, for the rest of history_days."""
    import yaml

    from edge_agent.cli import main

    doc = yaml.safe_load((repo / "config" / "demo.yaml").read_text(encoding="utf-8"))
    doc["evidence"] = {"review_days": 90}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    out = capsys.readouterr()
    assert "evidence.review_days" in out.out + out.err and "history_days (400)" in out.out + out.err
    doc["evidence"] = {"review_days": 90, "history_days": 90}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0


def test_a_visit_without_violation_loses_its_plate_with_its_photos_and_keeps_its_times(tmp_path):
    """Plates are personal information: a visit with no violation keeps its plate as long as its photos
    (``evidence.max_age_days``), not ``history_days`` — its times and verdict stay for the statistics. Before, every
    car that ever charged stayed in ``events`` by plate and time for 400 days."""
    clock = FakeClock()
    bus = EventBus()
    db = tmp_path / "evidence.db"
    rec = ViolationRecorder(db, clock, bus, history_days=400, review_days=730, plate_days=30)
    rec.start()
    try:
        def ev(kind: EventType, visit: str, bay: str = "A", **data) -> None:
            bus.publish(Event.make(kind, clock, bay_id=bay, visit_id=visit, data=data))

        ev(EventType.VEHICLE_ARRIVED, "legal")
        ev(EventType.VEHICLE_IDENTIFIED, "legal", plate="粤BD12345", colour="green", nev=True, reason="format+colour")
        ev(EventType.LOCK_MOVED, "legal", lock_id="L1", state="down", reason="NEV 粤BD12345 identified")
        clock.advance(3600)
        ev(EventType.VEHICLE_DEPARTED, "legal", stayed_s=3600.0, plate="粤BD12345")
        _violation(bus, clock, "B", "fuel")  # undecided: its plate waits for the decision
        ev(EventType.VEHICLE_ARRIVED, "long", "C")
        ev(EventType.VEHICLE_IDENTIFIED, "long", "C", plate="粤BF00001", nev=True)
        clock.advance(31 * DAY)
        ev(EventType.LOCK_MOVED, "long", "C", lock_id="L3", state="up", reason="粤BF00001 still parked")  # the pass
        legal = rec.log.timeline("legal")
        assert [e.type for e in legal] == ["vehicle_arrived", "vehicle_identified", "lock_moved", "vehicle_departed"]
        assert legal[1].data == {"colour": "green", "nev": True, "reason": "format+colour"}
        assert legal[2].data["reason"] == "NEV *** identified" and legal[3].data == {"stayed_s": 3600.0}
        assert rec.log.timeline("fuel")[1].data["plate"] == "京A12345"
        assert rec.log.timeline("long")[1].data["plate"] == "粤BF00001"  # the visit has not ended yet
    finally:
        rec.stop()
    # and no copy is left in the file's free pages or its WAL
    assert not [f.name for f in tmp_path.glob("evidence.db*") if "粤BD12345".encode() in f.read_bytes()]


def test_a_backlog_of_named_visits_is_unnamed_a_batch_per_event_not_in_one_pass(tmp_path, monkeypatch):
    """The pass runs on the event publisher (the frame loop). The first one after the upgrade met every visit of a
    year at once — 74 000 visits (400 000 events) took 13 s here, past systemd's 30 s watchdog on a Pi, and a killed
    pass started over at the restart. Now a batch per event; the backlog goes on at the next event, not in an hour."""
    from edge_agent.evidence import recorder

    monkeypatch.setattr(recorder, "UNNAME_BATCH", 3)
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, plate_days=30)
    for i in range(8):  # logged before the upgrade: nothing prunes them yet
        rec.log.record(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="A", visit_id=f"v{i}",
                                  data={"plate": "粤BD12345", "nev": True}))
        clock.advance(60)
        rec.log.record(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id=f"v{i}",
                                  data={"stayed_s": 60.0}))
    clock.advance(31 * DAY)
    rec.start()
    try:
        named = []
        for _ in range(4):
            bus.publish(Event.make(EventType.LOCK_MOVED, clock, bay_id="B", data={"lock_id": "L2", "state": "down"}))
            named.append(sum("plate" in rec.log.timeline(f"v{i}")[0].data for i in range(8)))
        assert named == [5, 2, 0, 0]  # three at a time, one pass per event, within the same hour
    finally:
        rec.stop()


def test_a_car_parked_longer_than_max_age_days_keeps_its_plate_until_it_leaves(tmp_path):
    """A visit was taken as ended once its last event was older than ``evidence.max_age_days``: a car parked a month
    logs nothing after its identification, so it lost its plate while still in the bay. Ended means departed (seen,
    or ``agent_stopped`` from the run ledger); the plate goes ``max_age_days`` after that."""
    clock = FakeClock()
    bus = EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400, plate_days=30)
    rec.start()
    try:
        def ev(kind: EventType, visit: str, bay: str, **data) -> None:
            bus.publish(Event.make(kind, clock, bay_id=bay, visit_id=visit, data=data))

        def plate(visit: str) -> object:
            return rec.log.timeline(visit)[1].data.get("plate")

        ev(EventType.VEHICLE_ARRIVED, "parked", "A")
        ev(EventType.VEHICLE_IDENTIFIED, "parked", "A", plate="粤BD12345", nev=True)
        clock.advance(40 * DAY)  # the hourly pass runs at the next event
        ev(EventType.LOCK_MOVED, None, "B", lock_id="L2", state="down")  # another bay's event: no visit
        assert plate("parked") == "粤BD12345"  # still in the bay, 40 days on
        ev(EventType.VEHICLE_DEPARTED, "parked", "A", stayed_s=40 * DAY)
        clock.advance(29 * DAY + 3600)
        ev(EventType.LOCK_MOVED, None, "B", lock_id="L2", state="up")
        assert plate("parked") == "粤BD12345"  # left 29 days ago
        clock.advance(2 * DAY)
        ev(EventType.LOCK_MOVED, None, "B", lock_id="L2", state="down")
        assert plate("parked") is None  # left 31 days ago
    finally:
        rec.stop()


def test_a_pass_goes_on_from_the_departure_the_last_one_stopped_at(tmp_path):
    """Each pass looked at every old event again from the start, so it cost more the more were done: 0.24 s per
    batch of 100 at 400 000 events here (about a second on a Pi, on the frame loop), and every hourly pass after.
    Now a pass goes on from the departure the last one stopped at; a violation forgotten lets it look again."""
    from edge_agent.evidence.violations import ViolationLog

    clock = FakeClock()
    log = ViolationLog(tmp_path / "evidence.db", clock)
    looked: list[str] = []
    log._db.set_trace_callback(lambda sql: looked.append(sql) if sql.startswith("SELECT 1 FROM violations") else None)
    try:
        for i in range(5):
            log.record(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="A", visit_id=f"v{i}",
                                  data={"plate": "粤BD12345", "nev": True}))
            clock.advance(60)
            log.record(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id=f"v{i}", data={}))
        log.record(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="B", visit_id="fuel",
                              data={"plate": "京A12345", "reason": "fuel_vehicle"}))
        log.record(Event.make(EventType.VIOLATION_ENDED, clock, bay_id="B", visit_id="fuel", data={}))
        log.record(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="B", visit_id="fuel", data={}))
        clock.advance(31 * DAY)
        assert (log.unname(30, 4), log.unname_more) == (4, True)
        assert (log.unname(30, 4), log.unname_more) == (1, False)  # v4, and the violation's visit kept
        assert len(looked) == 6
        looked.clear()
        assert log.unname(30, 4) == 0 and looked == []  # the hourly pass after: nothing old looked at again
        v = next(iter(log.iter_all(ViolationFilter())))
        log.decide(v.id, "confirmed", "alice")
        clock.advance(800 * DAY)
        assert log.forget_decided(730) == (1, 0)
        assert (log.unname(30, 4), log.unname_more) == (0, True)  # from the start again: v0–v3 were done
        assert log.unname(30, 4) == 1  # the forgotten violation's visit is unname's again
        assert "plate" not in log.timeline("fuel")[0].data
    finally:
        log.close()


def test_a_row_written_where_a_pass_has_been_sends_the_next_pass_back_to_the_start(tmp_path):
    """A pass went on from the departure it stopped at, so a row written later with an older time (held for a
    full disk, an ``agent_stopped`` departure written at the next start, a clock stepped back) or a plate logged
    for a visit whose departure it had passed was never looked at: that visit kept its plate for good."""
    from edge_agent.evidence.violations import ViolationLog

    clock = FakeClock()
    log = ViolationLog(tmp_path / "evidence.db", clock)

    def plates(visit: str) -> list[object]:
        return [e.data.get("plate") for e in log.timeline(visit) if e.data.get("plate")]

    try:
        old = FakeClock(clock.now())  # the time the late rows carry
        log.record(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="A", visit_id="v0",
                              data={"plate": "粤BD12345", "nev": True}))
        clock.advance(3600)
        log.record(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id="v0", data={}))
        clock.advance(31 * DAY)
        assert log.unname(30, 100) == 1
        log.record(Event.make(EventType.VEHICLE_IDENTIFIED, old, bay_id="B", visit_id="late",
                              data={"plate": "粤BD54321", "nev": True}))
        old.advance(60)
        log.record(Event.make(EventType.VEHICLE_DEPARTED, old, bay_id="B", visit_id="late",
                              data={"reason": "agent_stopped"}))
        assert plates("late") and log.unname(30, 100) == 1
        assert plates("late") == []
        log.record(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="A", visit_id="v0",
                              data={"plate": "粤BD12345", "nev": True}))  # after the departure it was unnamed at
        assert plates("v0") and log.unname(30, 100) == 1  # the visit left 31 days ago: its late plate goes
        assert plates("v0") == []
    finally:
        log.close()
