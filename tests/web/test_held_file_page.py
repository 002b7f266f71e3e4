"""A crafted ``held-events.jsonl`` (read at each start from a folder others may write in) cannot take the review
page down: before attacker27 a violation read from it with a time at ``datetime``'s end or with data of the wrong
types made the list, its page or the CSV export a 500 for good."""

from __future__ import annotations

import json
import uuid

from edge_agent.events.types import EventType
from edge_agent.evidence.violations import HELD_FILE, ViolationLog
from tests.web.test_api import HTML, logged_in


def _event(kind: str, visit: str, ts: str, data: dict) -> str:
    return json.dumps({"event_id": str(uuid.uuid4()), "type": kind, "ts": ts, "bay_id": "A1", "visit_id": visit,
                       "evidence_id": None, "data": data}, ensure_ascii=False)


def test_a_held_file_with_odd_times_and_types_leaves_every_page_answering(site, caplog):
    ok = "2026-03-09T01:00:00+00:00"
    good = {"reason": "fuel_vehicle", "plate": "粤B54321", "colour": "blue", "confidence": 0.8}
    lines = [_event(EventType.VIOLATION_STARTED, "v-late", "9999-12-31T23:00:00-12:00", good),  # CSV: OverflowError
             _event(EventType.VIOLATION_STARTED, "v-early", "0001-01-01T01:00:00+00:00", good),
             _event(EventType.VIOLATION_STARTED, "v-text", ok, {**good, "confidence": "abc"}),  # '%.0f' % 'abc…'
             _event(EventType.VIOLATION_STARTED, "v-huge", ok, {**good, "confidence": 1e300}),
             _event(EventType.VIOLATION_STARTED, "v-nev", ok, {**good, "nev": "maybe"}),
             _event(EventType.VEHICLE_IDENTIFIED, "v-why", ok, {"plate": "粤B54321", "reason": 5}),  # 5 .split
             _event(EventType.VIOLATION_STARTED, "v-why", ok, {"reason": "fuel_vehicle"}),
             _event(EventType.VIOLATION_STARTED, "v-fine", ok, good)]
    site.log.close()
    (site.store.db_path.with_name(HELD_FILE)).write_text("\n".join(lines) + "\n", encoding="utf-8")
    site.log = ViolationLog(site.store.db_path, site.clock)
    visits = [r[0] for r in site.log._db.execute("SELECT visit_id FROM violations WHERE id > 7 ORDER BY id")]
    assert visits == ["v-why", "v-fine"], visits  # v-why's start is fine; its bad identification is not written
    skipped = [r.getMessage() for r in caplog.records if "is no event, skipped" in r.getMessage()]
    assert [int(m.split(" line ")[1].split()[0]) for m in skipped] == [1, 2, 3, 4, 5, 6], skipped
    c = logged_in(site)
    for path in ("/", "/violations", "/violations.csv", "/violations/8", "/violations/9"):
        assert c.get(path, headers=HTML).status_code == 200, path
