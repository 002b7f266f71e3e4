"""The three charger warnings through the real agent: rendered scenes, the real detector and
recogniser, charger reports sent as the ``charger-status`` command would, on the injected clock.

Thresholds are scaled down (minutes → seconds) so a scenario plays in seconds; the defaults
themselves are covered by the tracker tests (test_charger_health.py).
"""

from __future__ import annotations

from edge_agent.sim.scenario import EMPTY, NEV, Scene, drive, hold
from tests.bays.scenario import play

FPS = 5.0


def park(seconds: float) -> list:
    return drive(NEV, -200, NEV.x, 1.6, FPS) + hold(seconds, Scene(cars=(NEV,))) + drive(NEV, NEV.x, -200, 1.6, FPS)


def report(bay: str, status: str):
    return lambda agent: agent.charger_status(bay, status)


def test_charger_suspect_after_three_long_nev_visits_then_cleared_by_charging(pipeline, tmp_path):
    seen = {}
    run = play(hold(2, EMPTY) + park(40) + hold(10, EMPTY) + park(40) + hold(10, EMPTY) + park(40)
               + hold(10, EMPTY), pipeline, tmp_path,
               actions=[(0, report("A", "idle")),
                        (150, lambda a: seen.setdefault("health", a.health_figures().extra["charger_warnings"])),
                        (155, report("A", "charging"))],
               charger_health={"suspect_park_min": 0.5, "suspect_visits": 3})
    arrivals = [e.visit_id for _, e in run.of("vehicle_arrived", "A")]
    assert len(arrivals) == 3
    t_sus, sus = run.one("charger_suspect", "A")
    t_third, _ = run.of("vehicle_arrived", "A")[2]
    assert 30 - 1e-6 <= t_sus - t_third <= 30 + 1 / FPS + 1e-6  # the third visit reached N, not later
    assert [v["visit_id"] for v in sus.data["evidence"]["visits"]] == arrivals
    assert all(v["plate"] == "粤BD12345" and v["nev"] for v in sus.data["evidence"]["visits"])
    assert [w["kind"] for w in seen["health"]["A"]] == ["charger_suspect"]
    t_clr, clr = run.one("charger_suspect_cleared", "A")
    assert abs(t_clr - 155) < 1e-6 and clr.data["raised_event_id"] == sus.event_id
    assert run.agent.charger_warnings() == {}
    assert [e.data["status"] for _, e in run.of("charger_status", "A")] == ["idle", "charging"]


def test_two_long_visits_are_not_enough(pipeline, tmp_path):
    run = play(hold(2, EMPTY) + park(40) + hold(10, EMPTY) + park(40) + hold(8, EMPTY), pipeline, tmp_path,
               actions=[(0, report("A", "idle"))], charger_health={"suspect_park_min": 0.5, "suspect_visits": 3})
    assert len(run.of("vehicle_departed", "A")) == 2 and run.of("charger_suspect") == []


def test_charger_mismatch_charging_on_an_empty_bay_cleared_by_the_next_arrival(pipeline, tmp_path):
    run = play(hold(2, EMPTY) + park(20) + hold(45, EMPTY) + park(10) + hold(8, EMPTY), pipeline, tmp_path,
               actions=[(10, report("A", "charging"))], charger_health={"mismatch_empty_min": 0.5})
    (_, v1), (t_arr2, _) = run.of("vehicle_arrived", "A")
    t_dep, _ = run.of("vehicle_departed", "A")[0]
    t_mis, mis = run.one("charger_mismatch", "A")
    assert abs(t_mis - t_dep - 30) <= 1 / FPS + 1e-6
    assert mis.data["evidence"]["visits"][0]["visit_id"] == v1.visit_id and mis.data["evidence"]["empty_min"] >= 0.5
    t_clr, clr = run.one("charger_mismatch_cleared", "A")
    assert t_clr == t_arr2 and clr.data["reason"] == "vehicle_arrived"
    assert run.of("charger_mismatch", "B") == []  # B's charger never said charging


def test_charger_silent_while_a_car_parks_cleared_by_a_report(pipeline, tmp_path):
    run = play(hold(2, EMPTY) + park(75) + hold(8, EMPTY), pipeline, tmp_path,
               actions=[(0, report("B", "idle")), (70, report("A", "charging"))],
               charger_health={"silent_after_h": 1 / 60})
    t_sil, sil = run.one("charger_silent", "A")
    assert abs(t_sil - 60) <= 1 / FPS + 1e-6
    assert sil.data["evidence"]["visit_count"] == 1
    assert sil.data["evidence"]["visits"][0]["visit_id"] == run.one("vehicle_arrived", "A")[1].visit_id
    t_clr, _ = run.one("charger_silent_cleared", "A")
    assert abs(t_clr - 70) < 1e-6
    assert run.of("charger_silent", "B") == []  # B reported, and had no visits


def test_every_charger_event_matches_the_event_schema(pipeline, tmp_path):
    from edge_agent.events.schemas import first_error

    run = play(hold(2, EMPTY) + park(35) + hold(40, EMPTY), pipeline, tmp_path,
               actions=[(0, report("B", "idle")), (10, report("A", "charging")), (78, report("A", "idle"))],
               charger_health={"suspect_park_min": 0.5, "suspect_visits": 1, "mismatch_empty_min": 0.5})
    kinds = {e.type for _, e in run.events if e.type.startswith("charger_")}
    assert {"charger_status", "charger_mismatch", "charger_mismatch_cleared"} <= kinds
    for _, e in run.events:
        assert first_error("event.json", e.to_dict()) is None, (e.type, first_error("event.json", e.to_dict()))
