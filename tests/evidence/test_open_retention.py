"""A site nobody reviews: every violation stayed open for ever, with its row, its visit's events (its plate among
them) and its photos (~4.2 KB of ``evidence.db`` and two photos each; 77 MB a year at 50 a day, never shrinking).
``evidence.open_days`` closes one nobody decided as ``expired``, said in its decision history and the audit log; a
decided one is never touched, and a clock run ahead turns cases ``expired`` (reversible) but takes no photo."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from edge_agent.clock import FakeClock
from edge_agent.config.evidence import EvidenceConfig
from edge_agent.events.bus import EventBus
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.recorder import ViolationRecorder
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationFilter, ViolationLog
from tests.evidence.test_evidence_locked import locked

DAY = 86400.0
JPEG = b"\xff\xd8photo"


def _violation(bus: EventBus, clock: FakeClock, visit: str, evidence_id: str | None = None) -> None:
    bus.publish(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id=visit, evidence_id=evidence_id,
                           data={"plate": "京A12345", "reason": "fuel_vehicle"}))
    clock.advance(600)
    bus.publish(Event.make(EventType.VIOLATION_ENDED, clock, bay_id="A", visit_id=visit, data={"reason": "departed"}))


def _by_visit(log: ViolationLog) -> dict[str, str]:
    return {v.visit_id: v.decision for v in log.iter_all(ViolationFilter())}


def _pass(bus: EventBus, clock: FakeClock) -> None:
    """An event an hour later: the recorder's hourly pass runs on it."""
    clock.advance(3601)
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id=f"tick-{clock.monotonic()}"))


def test_an_undecided_violation_is_closed_as_expired_after_open_days_a_decided_one_never(tmp_path):
    clock, bus = FakeClock(), EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400, review_days=730, open_days=180)
    rec.start()
    try:
        for visit in ("undecided", "confirmed", "reopened"):
            _violation(bus, clock, visit)
        ids = {v.visit_id: v.id for v in rec.log.iter_all(ViolationFilter())}
        rec.log.decide(ids["confirmed"], "confirmed", "alice")
        clock.advance(100 * DAY)
        rec.log.decide(ids["reopened"], "dismissed", "bob", reason="card shown")
        rec.log.decide(ids["reopened"], "open", "bob")  # looked at again: 180 days from now
        clock.advance(79 * DAY)
        _pass(bus, clock)  # 179 days and an hour: nothing yet
        assert _by_visit(rec.log) == {"undecided": "open", "confirmed": "confirmed", "reopened": "open"}
        clock.advance(DAY)
        _pass(bus, clock)
        assert _by_visit(rec.log) == {"undecided": "expired", "confirmed": "confirmed", "reopened": "open"}
        v = rec.log.get(ids["undecided"])
        assert (v.decided_by, v.decision_reason) == ("retention", None)
        assert [(d["decision"], d["user"], d["reason"]) for d in rec.log.decisions(ids["undecided"])] == [
            ("expired", "retention", "undecided for 180 days (evidence.open_days)")]
        audit = rec.log.audit_entries()[0]
        assert (audit["user"], audit["action"], audit["target"]) == ("retention", "violations_expired", "violations:1")
        assert audit["detail"] == f"undecided for 180 days (evidence.open_days): #{ids['undecided']}"
        assert rec.log.get(ids["confirmed"]).decided_by == "alice"
        clock.advance(81 * DAY)
        _pass(bus, clock)
        assert _by_visit(rec.log)["reopened"] == "open"  # reopened on day 100: counted from then
        clock.advance(19 * DAY)
        _pass(bus, clock)
        assert _by_visit(rec.log)["reopened"] == "expired"
        # a reviewer may still decide an expired one
        v = rec.log.decide(ids["undecided"], "confirmed", "carol", seen="expired")
        assert (v.decision, v.decided_by) == ("confirmed", "carol")
    finally:
        rec.stop()


def test_the_pass_under_another_programs_lock_waits_for_it_on_no_traceback_and_runs_once_it_is_free(tmp_path, caplog):
    """Probe updown38: a killed run restarted while a backup held ``evidence.db``'s lock, with cases past open_days:
    the pass tried the expiry while the log already held events for the lock, waited the log's 10 s a second time on
    the frame loop, logged a traceback ("pruning the event history failed") and left the cases open an hour more.
    Now it waits while events are held for the lock (or a full disk) and runs at the first event after they are
    written."""
    db = tmp_path / "evidence.db"
    clock, bus = FakeClock(), EventBus()
    first = ViolationRecorder(db, clock, bus)
    first.start()
    _violation(bus, clock, "old")
    clock.advance(200 * DAY)  # the run went on (no pass of its own): its newest record dates the clock
    bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v0"))
    first.stop()
    clock.advance(600)
    bus = EventBus()
    rec = ViolationRecorder(db, clock, bus, open_days=180)
    rec.log._db.execute("PRAGMA busy_timeout=20")  # the 10 s wait ran out: the point is what follows
    rec.start()
    try:
        with locked(db), caplog.at_level(logging.WARNING):
            bus.publish(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="B", visit_id="v1"))
            assert rec.log.held == 1
        assert not [r for r in caplog.records if r.exc_info]
        assert _by_visit(rec.log) == {"old": "open"}
        clock.advance(60)
        bus.publish(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="B", visit_id="v1"))
        assert rec.log.held == 0
        assert _by_visit(rec.log) == {"old": "expired"}  # at once, not in an hour
    finally:
        rec.stop()


def test_open_days_unset_keeps_undecided_violations_for_ever(tmp_path):
    clock, bus = FakeClock(), EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400, review_days=730)
    rec.start()
    try:
        _violation(bus, clock, "undecided")
        clock.advance(3000 * DAY)
        _pass(bus, clock)
        assert _by_visit(rec.log) == {"undecided": "open"}
    finally:
        rec.stop()


def test_expired_violations_photos_go_max_age_days_after_the_expiry(tmp_path):
    clock, bus = FakeClock(), EventBus()
    store = EvidenceStore(tmp_path, clock, max_age_days=30)
    rec = ViolationRecorder(store.db_path, clock, bus, history_days=400, review_days=730, open_days=180)
    rec.start()
    try:
        photo = store.save("A", "v1", "violation_started", JPEG, JPEG)
        _violation(bus, clock, "v1", photo)
        clock.advance(181 * DAY)
        _pass(bus, clock)
        assert _by_visit(rec.log) == {"v1": "expired"}
        assert store.enforce_retention() == 0 and store.get(photo) is not None  # the expiry is minutes old
        clock.advance(31 * DAY)
        assert store.enforce_retention() == 1 and store.get(photo) is None
    finally:
        rec.stop()
        store.close()


def test_a_clock_a_year_ahead_expires_nothing_this_run_opened(tmp_path):
    """Within a run the monotonic clock times the violations too, as the store's photos."""
    clock, bus = FakeClock(), EventBus()
    rec = ViolationRecorder(tmp_path / "evidence.db", clock, bus, history_days=400, review_days=730, open_days=180)
    rec.start()
    try:
        _violation(bus, clock, "today")
        clock.step_wall(365 * DAY)
        _pass(bus, clock)
        assert _by_visit(rec.log) == {"today": "open"}
    finally:
        rec.stop()


@pytest.mark.parametrize("synced", [True, None])
def test_a_clock_a_year_ahead_at_a_start_takes_no_photo_of_the_cases_it_expires(tmp_path, synced):
    """After a restart a synchronised wall clock dates a violation, so one run ahead expires older ones: that
    deletes nothing (a reviewer reopens them), and their photos stay held while the expiry is younger than
    ``max_age_days`` — before the clock is put right and after. One nobody vouches for is believed no further than
    the newest event plus the uptime (``evidence/age.py``, chaos37): nothing expires."""
    clock, bus = FakeClock(synced=synced), EventBus()
    store = EvidenceStore(tmp_path, clock, max_age_days=30)
    rec = ViolationRecorder(store.db_path, clock, bus, history_days=400, review_days=730, open_days=180)
    rec.start()
    photos = {}
    for visit in ("last-week", "yesterday"):
        photos[visit] = store.save("A", visit, "violation_started", JPEG, JPEG)
        _violation(bus, clock, visit, photos[visit])
        clock.advance(6 * DAY)
    rec.stop()
    store.close()
    clock.step_wall(365 * DAY)  # the next boot's time source runs a year ahead
    store = EvidenceStore(tmp_path, clock, max_age_days=30)
    bus = EventBus()
    rec = ViolationRecorder(store.db_path, clock, bus, history_days=400, review_days=730, open_days=180)
    rec.start()
    try:
        _pass(bus, clock)
        assert set(_by_visit(rec.log).values()) == ({"expired"} if synced else {"open"})  # said: audit, history
        if not synced:
            return
        assert store.enforce_retention() == 0
        clock.step_wall(-365 * DAY)  # NTP puts it right
        assert store.enforce_retention() == 0
        assert all(store.get(p) is not None and store.image_path(p).exists() for p in photos.values())
        for v in rec.log.iter_all(ViolationFilter()):
            rec.log.decide(v.id, "open", "manager", seen="expired")
        clock.advance(60 * DAY)  # open again: held by the decision, as any open case
        assert store.enforce_retention() == 0
    finally:
        rec.stop()
        store.close()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1, 3651, "soon"])
def test_open_days_is_a_finite_number_from_0_to_3650(bad):
    with pytest.raises(ValidationError, match="open_days"):
        EvidenceConfig(open_days=bad)
    assert EvidenceConfig().open_days == 180 and EvidenceConfig(open_days=0).open_days == 0


@pytest.mark.parametrize(("open_days", "given"), [(None, 180.0), (30, 30.0), (0, None)])
def test_the_agent_hands_open_days_to_its_recorder_0_keeps_them(tmp_path, models_dir, open_days, given):
    from edge_agent.runtime.assemble import assemble
    from edge_agent.sim.scenario import ScriptedSource, demo_story, scene_config

    clock = FakeClock()
    evidence = {} if open_days is None else {"open_days": open_days}
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir)}, evidence=evidence)
    parts = assemble(cfg, clock=clock, source=ScriptedSource(demo_story(5.0), clock))
    parts.start()
    try:
        assert parts.recorder is not None and parts.recorder.open_days == given
    finally:
        parts.stop()
