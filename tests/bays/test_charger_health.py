"""Charger health warnings: the pure tracker on a FakeClock (fast, every edge), and its config checks.

The same warnings on rendered scenes through the real agent are in test_charger_scenarios.py.
"""

from __future__ import annotations

import pytest

from edge_agent.bays.charger_health import MISMATCH, SILENT, SUSPECT, ChargerHealth
from edge_agent.clock import FakeClock
from edge_agent.config.chargers import ChargerHealthConfig
from edge_agent.config.eventtypes import BUS_EVENT_TYPES
from edge_agent.config.load import ConfigError, parse_config
from edge_agent.events.types import Event, EventType
from edge_agent.sim.scenario import scene_config


def tracker(**cfg: object) -> tuple[ChargerHealth, FakeClock]:
    clock = FakeClock()
    return ChargerHealth(ChargerHealthConfig(**cfg), {"A": "ch-A", "B": "ch-B"}, clock), clock


def visit(t: ChargerHealth, clock: FakeClock, minutes: float, nev: bool = True, bay: str = "A",
          vid: str = "v", status_mid: str | None = None) -> list[Event]:
    """One visit: arrival, identification, ``minutes`` parked (ticking each minute), departure."""
    c = clock
    out = t.on_event(Event.make(EventType.VEHICLE_ARRIVED, c, bay_id=bay, visit_id=vid))
    out += t.on_event(Event.make(EventType.VEHICLE_IDENTIFIED, c, bay_id=bay, visit_id=vid,
                                 data={"plate": "粤BD12345" if nev else "京A12345", "nev": nev}))
    for i in range(int(minutes)):
        c.advance(60)
        out += t.tick()
        if status_mid and i == 0:
            out += t.on_status(bay, status_mid)
    out += t.on_event(Event.make(EventType.VEHICLE_DEPARTED, c, bay_id=bay, visit_id=vid))
    c.advance(60)
    return out + t.tick()


def types(events: list[Event]) -> list[str]:
    """The events' types, each one a notification sink may name (``notify.sinks[].events`` is checked against
    the known types: the ``_cleared`` ones were missing and a sink asking for them stopped the agent's start)."""
    assert {e.type for e in events} <= BUS_EVENT_TYPES, [e.type for e in events]
    return [e.type for e in events]


def test_suspect_after_k_long_nev_visits_without_charging_and_clears_on_charging():
    t, c = tracker()
    assert t.on_status("A", "idle") == []
    got = visit(t, c, 12, vid="v1") + visit(t, c, 12, vid="v2")
    assert got == []  # two of three
    got = visit(t, c, 5, vid="short") + visit(t, c, 30, nev=False, vid="fuel")  # neither counts nor breaks
    assert got == []
    got = visit(t, c, 12, vid="v3")
    assert types(got) == [SUSPECT]
    ev = got[0]
    assert ev.bay_id == "A" and ev.data["charger_id"] == "ch-A" and ev.visit_id == "v3"
    assert [v["visit_id"] for v in ev.data["evidence"]["visits"]] == ["v1", "v2", "v3"]
    assert all(v["parked_min"] >= 10 and v["plate"] == "粤BD12345" for v in ev.data["evidence"]["visits"])
    assert t.active()["A"][0]["kind"] == SUSPECT
    assert visit(t, c, 12, vid="v4") == []  # raised once, not per visit
    cleared = t.on_status("A", "charging")
    assert types(cleared) == [SUSPECT + "_cleared"] and cleared[0].data["raised_event_id"] == ev.event_id
    assert t.active() == {}


def test_a_charging_report_during_a_visit_breaks_the_streak():
    t, c = tracker(suspect_visits=2)
    t.on_status("A", "idle")
    assert visit(t, c, 12, vid="v1") == []
    assert visit(t, c, 12, vid="v2", status_mid="charging") == []
    t.on_status("A", "idle")
    assert visit(t, c, 12, vid="v3") == []  # v1 is forgotten: the charger worked in v2
    assert types(visit(t, c, 12, vid="v4")) == [SUSPECT]


def test_nothing_is_raised_before_the_first_charger_report():
    t, c = tracker(suspect_visits=1, silent_after_h=1)
    got = visit(t, c, 90, vid="v1") + visit(t, c, 90, vid="v2")
    assert got == [] and t.active() == {}


def test_mismatch_when_charging_while_empty_and_clears_on_arrival_or_status():
    t, c = tracker(mismatch_empty_min=15)
    visit(t, c, 20, vid="v1", status_mid="charging")  # charging while parked: fine
    c.advance(13 * 60)
    assert t.tick() == []  # empty 14 min
    c.advance(60)
    got = t.tick()
    assert types(got) == [MISMATCH]
    ev = got[0].data["evidence"]
    assert ev["empty_min"] >= 15 and ev["visits"][0]["visit_id"] == "v1" and ev["charging_reported"]
    got = t.on_event(Event.make(EventType.VEHICLE_ARRIVED, c, bay_id="A", visit_id="v2"))
    assert types(got) == [MISMATCH + "_cleared"] and got[0].data["reason"] == "vehicle_arrived"
    t.on_event(Event.make(EventType.VEHICLE_DEPARTED, c, bay_id="A", visit_id="v2"))
    c.advance(16 * 60)
    assert types(t.tick()) == [MISMATCH]
    got = t.on_status("A", "idle")
    assert types(got) == [MISMATCH + "_cleared"] and got[0].data["reason"] == "charger_idle"


def test_a_blind_camera_is_no_evidence_of_an_empty_bay():
    t, c = tracker(mismatch_empty_min=15)
    t.on_status("A", "charging")
    t.on_event(Event.make(EventType.CAMERA_LOST, c))
    c.advance(3600)
    assert t.tick() == []
    t.on_event(Event.make(EventType.CAMERA_RESTORED, c))
    c.advance(14 * 60)
    assert t.tick() == []
    c.advance(60)
    assert types(t.tick()) == [MISMATCH]


def test_silent_when_visits_happen_without_status_and_clears_on_a_report():
    t, c = tracker(silent_after_h=2)
    t.on_status("B", "idle")  # arms: the feed works for B
    c.advance(3 * 3600)
    assert t.tick() == []  # A had no visits: silence alone is no warning
    got = visit(t, c, 5, vid="v1")
    assert [(e.type, e.bay_id) for e in got] == [(SILENT, "A")]
    assert got[0].data["evidence"]["visit_count"] == 1 and got[0].data["evidence"]["visits"][0]["visit_id"] == "v1"
    assert types(t.on_status("A", "idle")) == [SILENT + "_cleared"]
    assert "B" not in t.active() and t.active() == {}


def test_disabled_raises_nothing_and_reload_clears_open_warnings():
    t, c = tracker(enabled=False, suspect_visits=1)
    t.on_status("A", "idle")
    assert visit(t, c, 12) == []
    t2, c2 = tracker(suspect_visits=1)
    t2.on_status("A", "idle")
    assert types(visit(t2, c2, 12)) == [SUSPECT]
    got = t2.reconfigure(ChargerHealthConfig(enabled=False), {"A": "ch-A"})
    assert types(got) == [SUSPECT + "_cleared"] and got[0].data["reason"] == "disabled"


@pytest.mark.parametrize("key,value", [("suspect_park_min", 0), ("suspect_park_min", float("nan")),
                                       ("suspect_visits", 0), ("mismatch_empty_min", float("inf")),
                                       ("silent_after_h", -1), ("silent_after_h", 10_000), ("bogus", 1)])
def test_bad_thresholds_are_config_errors_naming_the_key(tmp_path, key, value):
    base = scene_config(str(tmp_path)).model_dump(mode="json")
    base["charger_health"] = {key: value}
    with pytest.raises(ConfigError) as exc:
        parse_config(base, "<test>")
    assert any(f"charger_health.{key}" in p for p in exc.value.problems), exc.value.problems


def test_a_charger_that_never_reports_does_not_make_the_tracker_grow():
    """Every visit's id was kept until the bay's charger next reported: a charger feed never set up, or one
    charger dead for months, kept them all (150 bays × 30 visits a day: ~1.6 million ids a year). The warning
    lists the last 20 and counts them all; the tracker keeps no more than that."""
    from edge_agent.bays.charger_health import EVIDENCE_MAX

    t, c = tracker(silent_after_h=2)
    for i in range(300):
        t.on_event(Event.make(EventType.VEHICLE_ARRIVED, c, bay_id="A", visit_id=f"v{i}"))
        t.on_event(Event.make(EventType.VEHICLE_DEPARTED, c, bay_id="A", visit_id=f"v{i}"))
    assert len(t._bays["A"].unreported) <= EVIDENCE_MAX
    t.on_status("B", "idle")  # arms: the feed works for B; A's count starts there
    for i in range(300, 330):
        t.on_event(Event.make(EventType.VEHICLE_ARRIVED, c, bay_id="A", visit_id=f"v{i}"))
        t.on_event(Event.make(EventType.VEHICLE_DEPARTED, c, bay_id="A", visit_id=f"v{i}"))
    c.advance(3 * 3600)
    got = t.tick()
    assert [(e.type, e.bay_id) for e in got] == [(SILENT, "A")]
    ev = got[0].data["evidence"]
    assert ev["visit_count"] == 30 and [v["visit_id"] for v in ev["visits"]] == [f"v{i}" for i in range(310, 330)]
    assert len(t._bays["A"].unreported) <= EVIDENCE_MAX


def test_a_reload_that_puts_another_charger_on_a_bay_ends_the_old_charger_s_warnings_and_record():
    """A bay's ``charger_id`` changed at a reload (the charger replaced, or the mapping put right): the old charger
    left the config, but its open warning stayed on the bay — cleared later in the new charger's name — and its
    record (last status, the run of NEV visits) went on counting against the new one."""
    t, c = tracker(suspect_visits=2)
    t.on_status("A", "idle")
    visit(t, c, 12, vid="v1")
    got = visit(t, c, 12, vid="v2")
    assert types(got) == [SUSPECT] and got[0].data["charger_id"] == "ch-A"
    got = t.reconfigure(ChargerHealthConfig(suspect_visits=2), {"A": "ch-A2", "B": "ch-B"})
    assert types(got) == [SUSPECT + "_cleared"]
    assert (got[0].data["charger_id"], got[0].data["reason"]) == ("ch-A", "charger_removed")
    assert t.active() == {}
    assert visit(t, c, 12, vid="v3") == []  # the new charger's own run starts at its first visit
    got = visit(t, c, 12, vid="v4")
    assert types(got) == [SUSPECT] and got[0].data["charger_id"] == "ch-A2"
    assert [v["visit_id"] for v in got[0].data["evidence"]["visits"]] == ["v3", "v4"]
    c.advance(3600)
    assert t.tick() == []


def test_a_charger_a_reload_brings_is_silent_only_after_silent_after_h_of_its_own():
    """Its silence counted from the first report of any charger since start: a charger added (or put on a bay in
    another's place) by a reload a day later was ``charger_silent`` at its first visit."""
    t, c = tracker(silent_after_h=2)
    t.on_status("B", "idle")
    c.advance(5 * 3600)
    t.reconfigure(ChargerHealthConfig(silent_after_h=2), {"A": "ch-A2", "B": "ch-B", "C": "ch-C"})
    assert visit(t, c, 5, vid="v1") + visit(t, c, 5, bay="C", vid="v2") == []
    c.advance(2 * 3600)
    assert sorted(e.bay_id for e in t.tick() if e.type == SILENT) == ["A", "C"]
