"""A run that stops ends its bay stories at the next start (evidence/runs.py).

The whole agent (real models, real evidence database) on a fake clock: a fuel car parks in bay B and is in
violation when the agent stops; the device stays off for three days. Before, the next run knew nothing of that
visit: the review page kept the violation open for ever and the statistics counted bay B occupied and in
violation every day since.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_agent.clock import FakeClock, iso
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.runs import RunLedger
from edge_agent.evidence.violation_records import ViolationFilter
from edge_agent.evidence.violations import ViolationLog
from edge_agent.runtime.assemble import assemble
from edge_agent.sim.scenario import EMPTY, FUEL, Scene, ScriptedSource, hold, run_scripted, scene_config
from edge_agent.stats.source import query

FPS = 4
SH = ZoneInfo("Asia/Shanghai")


def _run(cfg, clock, story) -> list[Event]:  # noqa: ANN001
    src = ScriptedSource(story, clock)
    parts = assemble(cfg, clock=clock, source=src)
    seen: list[Event] = []
    parts.agent.bus.subscribe(seen.append)
    parts.start()
    try:
        run_scripted(parts.agent.step, clock, src.duration, FPS)
    finally:
        parts.stop()
    return seen


def _config(tmp_path, models_dir):  # noqa: ANN001, ANN202
    return scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir), "threads": 1},
                        timers={"arrival_confirm_s": 1, "departure_confirm_s": 2, "fuel_grace_s": 2},
                        web={"enabled": False})


def _types(events: list[Event], bay: str) -> list[str]:
    return [e.type for e in events if e.bay_id == bay and e.type in EventType.BAY_STORY]


def test_a_visit_left_open_by_a_stopped_run_ends_when_it_stopped(tmp_path, models_dir):
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=SH))
    cfg = _config(tmp_path, models_dir)
    first = _run(cfg, clock, hold(5, EMPTY) + hold(20, Scene(cars=(FUEL,))))
    assert _types(first, "B")[-1] == EventType.VIOLATION_STARTED  # still parked, in violation, as it stops
    stopped_at = clock.now()
    visit = next(e.visit_id for e in first if e.type == EventType.VEHICLE_ARRIVED and e.bay_id == "B")

    clock.advance(3 * 86400)  # switched off; the car left meanwhile
    second = _run(cfg, clock, hold(10, EMPTY))
    ends = [e for e in second if e.visit_id == visit]
    assert [e.type for e in ends] == [EventType.VIOLATION_ENDED, EventType.VEHICLE_DEPARTED]
    assert all(e.data["reason"] == "agent_stopped" and e.ts == iso(stopped_at) for e in ends)
    assert 15 <= ends[-1].data["stayed_s"] <= 20 and ends[-1].data["plate"] == FUEL.plate
    assert EventType.VEHICLE_ARRIVED not in _types(second, "B")  # nothing arrived: the bay is empty

    log = ViolationLog(Path(cfg.data_dir) / "evidence" / "evidence.db", clock)
    try:
        (v,) = log.query(ViolationFilter(bay_id="B")).items
        assert v.ended_at == iso(stopped_at)  # the review page: the violation ended, when it was last seen
    finally:
        log.close()
    # the days the device was off are no days of occupancy or violation
    (day,) = query(Path(cfg.data_dir) / "evidence" / "evidence.db", ["B"], date(2026, 11, 4), date(2026, 11, 4), SH,
                   clock.now().timestamp()).rows
    assert (day.occupied_s, day.violation_s) == (0.0, 0.0)


def test_a_car_still_there_after_the_restart_is_a_new_visit_parked_at_start(tmp_path, models_dir):
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=SH))
    cfg = _config(tmp_path, models_dir)
    first = _run(cfg, clock, hold(5, EMPTY) + hold(10, Scene(cars=(FUEL,))))
    old = next(e.visit_id for e in first if e.type == EventType.VEHICLE_ARRIVED and e.bay_id == "B")
    clock.advance(600)
    second = _run(cfg, clock, hold(10, Scene(cars=(FUEL,))))
    departed = [e for e in second if e.type == EventType.VEHICLE_DEPARTED]
    assert [e.visit_id for e in departed] == [old] and departed[0].data["reason"] == "agent_stopped"
    (arrived,) = [e for e in second if e.type == EventType.VEHICLE_ARRIVED]
    assert arrived.bay_id == "B" and arrived.visit_id != old and arrived.data.get("parked_at_start") is True
    assert second.index(departed[0]) < second.index(arrived)  # the old story ends before the new one begins


def test_a_power_cut_ends_the_story_at_the_last_alive_mark_and_only_once(tmp_path):
    """No clean stop: the last of the once-a-minute marks is when the run was last known alive. A second start
    ends nothing again (the departure is recorded)."""
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))
    db = tmp_path / "evidence.db"
    log = ViolationLog(db, clock)
    ledger = RunLedger(db, clock)
    assert ledger.begin() == []  # a fresh device: nothing to end
    log.record(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    for _ in range(5):
        clock.advance(60)
        ledger.mark_alive()
    alive = clock.now()
    clock.advance(59)  # the power goes: no mark
    clock.advance(86400)
    after = RunLedger(db, clock)
    (ev,) = after.begin()
    assert (ev.type, ev.visit_id, ev.ts, ev.data["stayed_s"]) == (EventType.VEHICLE_DEPARTED, "v1", iso(alive), 300.0)
    assert "plate" not in ev.data  # none was read
    log.record(ev)
    assert RunLedger(db, clock).begin() == []
    log.close()


def test_older_runs_visits_end_at_the_next_arrival_and_an_upgrade_uses_the_newest_event(tmp_path):
    """Visits an older release left open (no ledger yet): each ends at its bay's next arrival, the newest at the
    newest event recorded; a violation row is ended with its visit."""
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    clock = FakeClock(t0)
    db = tmp_path / "evidence.db"
    log = ViolationLog(db, clock)

    def at(minutes: float, type_: str, visit: str, **data: object) -> None:
        log.record(Event(type_, iso(t0 + timedelta(minutes=minutes)), "A", visit, data=data))

    at(0, EventType.VEHICLE_ARRIVED, "v1")
    at(30, EventType.VEHICLE_ARRIVED, "v2")
    at(31, EventType.VIOLATION_STARTED, "v2", reason="unidentified")
    at(45, EventType.OVERSTAY_STARTED, "v2")
    clock.advance(7200)
    closing = RunLedger(db, clock).begin()
    assert [(e.type, e.visit_id, e.ts) for e in closing] == [
        (EventType.VEHICLE_DEPARTED, "v1", iso(t0 + timedelta(minutes=30))),
        (EventType.VIOLATION_ENDED, "v2", iso(t0 + timedelta(minutes=45))),
        (EventType.OVERSTAY_ENDED, "v2", iso(t0 + timedelta(minutes=45))),
        (EventType.VEHICLE_DEPARTED, "v2", iso(t0 + timedelta(minutes=45))),
    ]
    assert closing[1].data == {"reason": "agent_stopped", "violation": "unidentified", "duration_s": 840.0}
    for ev in closing:
        log.record(ev)
    assert log.query(ViolationFilter()).items[0].ended_at == iso(t0 + timedelta(minutes=45))
    log.close()


def test_a_ledger_it_cannot_read_never_keeps_the_agent_from_starting(tmp_path, caplog):
    """A damaged ``runs`` table (here: another table under that name) is logged; the start goes on."""
    import sqlite3

    from edge_agent.events.bus import EventBus
    from edge_agent.evidence.recorder import ViolationRecorder

    db = tmp_path / "evidence.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE runs (something_else TEXT)")
    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))
    recorder = ViolationRecorder(db, clock, EventBus())
    recorder.start()
    recorder.close_previous_run()
    recorder.stop()
    assert "could not end what the previous run left open" in caplog.text


def test_a_start_under_another_programs_lock_ends_the_old_story_first_on_a_site_with_a_lock(
        tmp_path, models_dir, monkeypatch):  # noqa: ANN001
    """review39: the whole agent as ``assemble`` builds it, a lock on B (its start-up ``lock_moved`` held for the
    index's lock before the run ledger's start), a ``BEGIN IMMEDIATE`` held through the start and the first frames.
    Before, B's old violation and stay were ended after the new car's arrival and violation in B: a backend
    pairing B's ``violation_ended`` with the bay's latest ``violation_started`` ended the new one."""
    from edge_agent.evidence import store as store_module
    from edge_agent.sim.synthetic import BAYS
    from tests.evidence.test_evidence_locked import locked

    clock = FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=SH))
    bays = [{"id": b, "polygon": [list(p) for p in poly], **({"lock_id": "LB"} if b == "B" else {})}
            for b, poly in BAYS.items()]
    cfg = scene_config(str(tmp_path / "data"), perception={"models_dir": str(models_dir), "threads": 1},
                       timers={"arrival_confirm_s": 1, "departure_confirm_s": 2, "fuel_grace_s": 2},
                       web={"enabled": False}, bays=bays,
                       locks=[{"id": "LB", "driver": "simulator", "auto_raise_delay_s": 20,
                               "simulator": {"travel_time_s": 1.0, "start": "down", "presence": False}}])
    first = _run(cfg, clock, hold(6, Scene(cars=(FUEL,))))
    old = next(e.visit_id for e in first if e.type == EventType.VEHICLE_ARRIVED and e.bay_id == "B")
    clock.advance(600)
    connect = sqlite3.connect  # the waits for the lock cut to 20 ms: what follows them is the point
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: connect(*a, **{**kw, "timeout": 0.02}))
    monkeypatch.setattr(store_module, "LOCK_WAIT_S", 0.02)
    src = ScriptedSource(hold(8, Scene(cars=(FUEL,))), clock)
    parts = assemble(cfg, clock=clock, source=src, lock_thread=False)
    seen: list[Event] = []
    parts.agent.bus.subscribe(seen.append)
    try:
        with locked(parts.agent.evidence.db_path):
            parts.start()
            run_scripted(parts.agent.step, clock, 4, FPS)
        run_scripted(parts.agent.step, clock, 4, FPS)
    finally:
        parts.stop()
    story = [(e.type, e.visit_id == old) for e in seen if e.bay_id == "B" and e.type in EventType.BAY_STORY]
    assert story[:4] == [(EventType.VIOLATION_ENDED, True), (EventType.VEHICLE_DEPARTED, True),
                         (EventType.VEHICLE_ARRIVED, False), (EventType.VEHICLE_IDENTIFIED, False)], story
    assert sum(e.type == EventType.VEHICLE_DEPARTED for e in seen) == 1  # ended once, by the start
