"""Property: whatever the observations, each bay's event stream follows the visit grammar."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.bays.machine import BayMachine
from edge_agent.bays.visit_verdict import decide_visit
from edge_agent.clock import FakeClock
from edge_agent.config.bays import TimersConfig
from edge_agent.events.types import END_REASONS
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.types import PlateRead

READS = [
    PlateRead(text=t, confidence=c, colour=col, nev=None, nev_reason="", corners=((0, 0),) * 4, box=(0, 0, 1, 1))
    for t, c, col in [("京A12345", 0.95, "blue"), ("粤BD12345", 0.9, "green"), ("", 0.0, "unknown"),
                      ("京A1234", 0.5, "blue"), ("8", 0.9, "green")]
]

step = st.one_of(
    st.tuples(st.just("obs"), st.sampled_from([True, False, None]), st.lists(st.sampled_from(READS), max_size=2),
              st.floats(0.05, 8.0)),
    st.tuples(st.just("charger"), st.sampled_from(["charging", "finished", "idle"]), st.just([]), st.floats(0, 2)),
    st.tuples(st.just("camera"), st.booleans(), st.just([]), st.floats(0, 2)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=120))
def test_event_grammar_holds(steps):
    clock = FakeClock()
    lists = PlateLists()
    m = BayMachine("A", TimersConfig(arrival_confirm_s=2, departure_confirm_s=3, fuel_grace_s=10,
                                     unidentified_timeout_s=15, overstay_s=5),
                   lambda c: decide_visit(c.text, c.colour, lists, c.dark_chars, c.polarity), clock, identify_reads=2)
    events = []
    for kind, arg, reads, dt in steps:
        if kind == "obs":
            events += m.step(arg, reads)
        elif kind == "charger":
            events += m.charger(arg)
        else:
            m.set_camera(arg)
        clock.advance(dt)
        events += m.tick()
    in_visit, visit, violation, overstay, identified = False, None, False, False, False
    for e in events:
        assert e.bay_id == "A" and e.visit_id
        if e.type == "vehicle_arrived":
            assert not in_visit
            in_visit, visit, violation, overstay, identified = True, e.visit_id, False, False, False
            continue
        assert in_visit and e.visit_id == visit, e.type
        if e.type == "vehicle_identified":
            assert not identified
            identified = True
            assert e.data["nev"] in (True, False)
        elif e.type == "violation_started":
            assert not violation
            violation = True
        elif e.type == "violation_ended":
            assert violation
            violation = False
        elif e.type == "overstay_started":
            assert not overstay
            overstay = True
        elif e.type == "overstay_ended":
            assert overstay
            overstay = False
        if e.type in ("violation_ended", "overstay_ended", "vehicle_departed") and "reason" in e.data:
            assert e.data["reason"] in END_REASONS, e.data  # the page and the group chat have words for it
        elif e.type == "vehicle_departed":
            assert not violation and not overstay  # both closed before the car is gone
            in_visit = False
    state = m.state()
    assert (state.visit_id is not None) == in_visit
    assert (state.state == "violation") == violation


def _machine(clock: FakeClock) -> BayMachine:
    lists = PlateLists()
    return BayMachine("A", TimersConfig(arrival_confirm_s=2, departure_confirm_s=3, fuel_grace_s=10,
                                        unidentified_timeout_s=15, overstay_s=5),
                      lambda c: decide_visit(c.text, c.colour, lists, c.dark_chars, c.polarity), clock,
                      identify_reads=2)


def test_an_overstay_the_charger_ends_has_a_reason_the_page_and_the_group_have_words_for():
    """An NEV that finished charging and overstayed, then charging again (a second session) or the charger
    idle, ends its overstay with ``reason: charging`` / ``charger_idle``. ``END_REASONS`` ("every reason that ends
    a violation, an overstay or a visit") lacked both: the visit's timeline on the Chinese page read
    "超时结束 · charging", and the group chat "类型: charger_idle"."""
    for status in ("charging", "idle"):
        clock = FakeClock()
        m = _machine(clock)
        events = []
        for _ in range(8):  # the car arrives and its green plate is read
            events += m.step(True, [READS[1]])
            clock.advance(0.5)
        events += m.charger("finished")
        clock.advance(6)
        events += m.tick()
        assert [e.type for e in events].count("overstay_started") == 1, [e.type for e in events]
        ended = [e for e in m.charger(status) if e.type == "overstay_ended"]
        assert len(ended) == 1 and ended[0].data["reason"] in END_REASONS, ended[0].data
