"""The installer's and the live page's snapshots are the whole camera view: every parked car with its plate, anyone
walking past. They go with the data subject's forget of a car that stood in view, and with ``max_age_days``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from edge_agent.clock import FakeClock
from edge_agent.events.types import Event, EventType
from edge_agent.evidence.forget import IN_VIEW_MARGIN_S, forget_plate
from edge_agent.evidence.store import EvidenceStore
from edge_agent.evidence.violations import ViolationLog
from tests.web import scenes

PLATE = "粤B12345"


def _parts(tmp: Path) -> tuple[FakeClock, EvidenceStore, ViolationLog]:
    clock = FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    store = EvidenceStore(tmp / "data" / "evidence", clock, max_age_days=30)
    return clock, store, ViolationLog(store.db_path, clock)


def test_a_forget_takes_the_snapshots_taken_while_the_car_stood_in_view(tmp_path):
    """Until 2026-12-05 a forget took the photos of the car's visits and a snapshot of its own bay, and left the
    installer's picture of the whole view and another bay's snapshot, the car's plate readable in both, for up to
    ``max_age_days``: they name no plate and no visit of the car."""
    clock, store, log = _parts(tmp_path)
    view = scenes.scene(PLATE, "blue")
    before = store.save(None, None, "snapshot", view, None)  # the lot before the car came
    clock.advance(IN_VIEW_MARGIN_S + 1)
    log.record(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    store.save("A", "v1", "identified", view, scenes.plate_crop(PLATE, "blue"), PLATE, {})
    log.record(Event.make(EventType.VEHICLE_IDENTIFIED, clock, bay_id="A", visit_id="v1", data={"plate": PLATE}))
    clock.advance(600)
    during = {"installer": store.save(None, None, "snapshot", view, None),
              "other bay": store.save("B", None, "snapshot", view, None),
              "its bay": store.save("A", "v1", "snapshot", view, None)}
    clock.advance(600)
    log.record(Event.make(EventType.VEHICLE_DEPARTED, clock, bay_id="A", visit_id="v1"))
    clock.advance(IN_VIEW_MARGIN_S - 1)
    during["leaving"] = store.save(None, None, "snapshot", view, None)
    clock.advance(2)
    after = store.save(None, None, "snapshot", scenes.scene("", "blue"), None)
    files = {k: store.image_path(e) for k, e in during.items()}
    store.close()
    log.close()

    out = forget_plate(tmp_path / "data", PLATE, clock, "ops", [])
    store = EvidenceStore(tmp_path / "data" / "evidence", clock)
    assert {k: store.get(e) for k, e in during.items()} == dict.fromkeys(during)
    assert not any(p.exists() for p in files.values())
    assert store.get(before) is not None and store.get(after) is not None  # the car was not in view
    # its bay's snapshot names the visit: one of the visit's photos; the other three are the snapshots' own count
    assert (out.photos, out.snapshots) == (2, 3)
    assert "3 snapshot(s) taken while it stood in view deleted" in out.summary()
    store.close()


def test_a_car_still_parked_takes_every_later_snapshot_with_it(tmp_path):
    clock, store, log = _parts(tmp_path)
    log.record(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    store.save("A", "v1", "identified", b"\xff\xd8jpeg", None, PLATE, {})
    clock.advance(86400)
    late = store.save(None, None, "snapshot", b"\xff\xd8jpeg", None)
    store.close()
    log.close()
    assert forget_plate(tmp_path / "data", PLATE, clock, "ops", []).snapshots == 1
    store = EvidenceStore(tmp_path / "data" / "evidence", clock)
    assert store.get(late) is None
    store.close()


def test_a_snapshot_ages_even_during_a_violation_nobody_decided(tmp_path):
    """An undecided violation's photos wait for its decision; a snapshot of its bay taken meanwhile is no part of
    the case (it is never protected) and was kept with them, for as long as nobody decided."""
    clock, store, log = _parts(tmp_path)
    log.record(Event.make(EventType.VEHICLE_ARRIVED, clock, bay_id="A", visit_id="v1"))
    case = store.save("A", "v1", "violation_started", b"\xff\xd8jpeg", None, PLATE, {})
    log.record(Event.make(EventType.VIOLATION_STARTED, clock, bay_id="A", visit_id="v1", evidence_id=case,
                          data={"reason": "fuel_vehicle", "plate": PLATE}))
    snap = store.save("A", "v1", "snapshot", b"\xff\xd8jpeg", None)
    clock.advance(31 * 86400)
    assert store.enforce_retention() == 1
    assert store.get(snap) is None and store.get(case) is not None  # the case waits for its decision
    store.close()
    log.close()
