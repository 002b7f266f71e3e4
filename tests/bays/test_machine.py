"""The pure bay state machine: observations and a FakeClock in, events out."""

from __future__ import annotations

from edge_agent.bays.machine import BayMachine
from edge_agent.bays.visit_verdict import decide_visit
from edge_agent.config.bays import TimersConfig
from edge_agent.perception.lists import PlateLists
from edge_agent.perception.types import PlateRead

T = TimersConfig(arrival_confirm_s=3, departure_confirm_s=5, fuel_grace_s=20, unidentified_timeout_s=30,
                 overstay_s=10)


def read(text: str, colour: str = "blue", conf: float = 0.95, **extra: object) -> PlateRead:
    return PlateRead(text=text, confidence=conf, colour=colour, nev=None, nev_reason="", corners=((0, 0),) * 4,
                     box=(0, 0, 1, 1), extra=extra)


def machine(clock, lists=None):  # noqa: ANN001, ANN201
    lists = lists or PlateLists()
    return BayMachine("A", T, lambda c: decide_visit(c.text, c.colour, lists, c.dark_chars, c.polarity), clock,
                      identify_reads=3)


def feed(m, clock, seconds, present, reads=(), dt=0.2):  # noqa: ANN001, ANN201
    out = []
    for _ in range(round(seconds / dt)):
        out += m.step(present, reads)
        clock.advance(dt)
    return out


def types(evs) -> list[str]:  # noqa: ANN001
    return [e.type for e in evs]


def test_short_presence_is_nothing(clock):
    m = machine(clock)
    assert feed(m, clock, 2.8, True, [read("京A12345")]) + feed(m, clock, 5, False) == []
    assert m.state().state == "free"


def test_fuel_story_with_exact_timing(clock):
    m = machine(clock)
    evs = feed(m, clock, 3.2, True, [read("京A12345")])
    assert types(evs) == ["vehicle_arrived", "vehicle_identified"]
    t_arr = clock.monotonic() - 0.2
    evs = feed(m, clock, 25, True)
    assert types(evs) == ["violation_started"]
    assert m.state().state == "violation" and m.state().plate == "京A12345" and m.state().nev is False
    assert evs[0].data["parked_s"] == 20.0 and clock.monotonic() > t_arr + 20
    evs = feed(m, clock, 6, False)
    assert types(evs) == ["violation_ended", "vehicle_departed"]
    assert len({e.visit_id for e in evs}) == 1


def test_an_nev_plate_a_cast_turned_blue_is_no_fuel_violation(clock):
    """A camera on the wrong white-balance preset turns a green plate blue; its characters stay
    dark, which the reads measure. The visit used to re-decide from the colour alone: "fuel", fined."""
    m = machine(clock)
    evs = feed(m, clock, 3.2, True, [read("皖AD12345", "blue", dark_chars=True, polarity=0.2)])
    evs += feed(m, clock, 25, True)
    assert "violation_started" not in types(evs) and m.state().nev is None  # undecided: a person looks
    m2 = machine(clock)  # white characters measured on blue: blue stands, fuel
    evs = feed(m2, clock, 3.2, True, [read("皖AD12345", "blue", dark_chars=False, polarity=0.3)]) + feed(m2, clock, 25, True)
    assert "violation_started" in types(evs) and m2.state().nev is False
    m3 = machine(clock)  # dark characters too weak to count (blur) under a civil text: blue stands
    evs = feed(m3, clock, 3.2, True, [read("京A12345", "blue", dark_chars=True, polarity=0.02)]) + feed(m3, clock, 25, True)
    assert "violation_started" in types(evs) and m3.state().nev is False


def test_blind_frames_never_count_as_absence(clock):
    m = machine(clock)
    feed(m, clock, 4, True, [read("粤BD12345", "green")])
    assert m.state().state == "identified" and m.state().nev is True
    m.set_camera(False)
    assert feed(m, clock, 120, None) == [] and m.state().state == "identified"
    m.set_camera(True)
    assert feed(m, clock, 4.8, False) == []  # absence counts from the first seeing frame
    assert types(feed(m, clock, 0.4, False)) == ["vehicle_departed"]


def test_unidentified_then_identified_as_nev_ends_the_violation(clock):
    m = machine(clock)
    evs = feed(m, clock, 33.4, True)  # arrival at 3 s + 30 s timeout
    assert types(evs) == ["vehicle_arrived", "violation_started"] and evs[1].data["reason"] == "unidentified"
    evs = feed(m, clock, 1, True, [read("粤BD12345", "green")])
    assert types(evs) == ["vehicle_identified", "violation_ended"] and evs[1].data["reason"] == "identified"
    assert m.state().state == "identified"


def test_allow_list_change_ends_a_fuel_violation(clock):
    lists = PlateLists()
    m = machine(clock, lists)
    feed(m, clock, 25, True, [read("京A12345")])
    assert m.state().state == "violation"
    lists.add("京A12345", "allow")
    evs = m.reverify()
    assert types(evs) == ["violation_ended"] and evs[0].data["reason"] == "allowed"


def test_a_visit_may_violate_again_after_an_end_and_each_end_names_the_visit(clock):
    """docs/bays.md (pairing a `violation_ended`): one violation open at a time, but the lists changed back start a
    second one in the same visit; every end carries the visit's `visit_id`, a reload's (`bay_removed`) too."""
    lists = PlateLists()
    m = machine(clock, lists)
    evs = feed(m, clock, 25, True, [read("京A12345")])
    lists.add("京A12345", "allow")
    evs += m.reverify()
    lists.update(allow=[])
    evs += m.reverify() + feed(m, clock, 1, True)
    evs += m.close("bay_removed")
    story = [(e.type, e.data.get("reason")) for e in evs if e.type.startswith("violation")]
    assert story == [("violation_started", "fuel_vehicle"), ("violation_ended", "allowed"),
                     ("violation_started", "fuel_vehicle"), ("violation_ended", "bay_removed")]
    assert {e.visit_id for e in evs} == {evs[0].visit_id} and evs[0].visit_id


def test_overstay_starts_after_finished_and_ends_on_charging(clock):
    m = machine(clock)
    feed(m, clock, 4, True, [read("粤BD12345", "green")])
    assert m.charger("finished") == []
    evs = feed(m, clock, 10.2, True)
    assert types(evs) == ["overstay_started"] and m.state().state == "overstay"
    assert types(m.charger("charging")) == ["overstay_ended"]
    assert m.state().state == "identified"
    assert m.charger("finished") == [] and types(feed(m, clock, 10.2, True)) == ["overstay_started"]
    assert types(feed(m, clock, 6, False)) == ["overstay_ended", "vehicle_departed"]


def test_charger_while_free_is_ignored_and_lock_state_is_kept(clock):
    m = machine(clock)
    assert m.charger("finished") == [] and m.state().lock is None  # no report yet
    m.lock_moved("up")
    assert m.state().lock == "up"


def test_events_carry_ids_and_offset_timestamps(clock):
    m = machine(clock)
    evs = feed(m, clock, 3.2, True, [read("京A12345")])
    for e in evs:
        assert e.bay_id == "A" and e.visit_id and len(e.event_id) == 36 and e.ts.endswith("+08:00")
    assert evs[1].data == {"plate": "京A12345", "colour": "blue", "type_code": "02", "nev": False, "reason": "colour",
                           "confidence": evs[1].data["confidence"], "reads": 16}


def _arrival_time(clock, m, seconds: float, moving_until: float, dt: float = 0.2) -> float | None:  # noqa: ANN001
    """Present for ``seconds``; something moves in the bay on every step before ``moving_until``."""
    t0 = clock.monotonic()
    for _ in range(round(seconds / dt)):
        now = clock.monotonic()
        moved = now if now - t0 < moving_until - 1e-9 else None
        if any(e.type == "vehicle_arrived" for e in m.step(True, (), moved)):
            return round(now - t0, 3)
        clock.advance(dt)
    return None


def test_an_arrival_waits_for_the_bay_to_come_to_rest(clock):
    """arrival_settle_s 1, arrival_settle_max_s 3: a car that stops is an arrival at arrival_confirm_s (or 1 s
    after it stopped, whichever is later); one that keeps moving (driving past, slowly) is none until 3 s later."""
    assert _arrival_time(clock, machine(clock), 10, moving_until=1.0) == 3.0  # stopped early: on time
    assert _arrival_time(clock, machine(clock), 10, moving_until=3.6) == 4.4  # last moved at 3.4 s: + 1 s at rest
    assert _arrival_time(clock, machine(clock), 5.8, moving_until=99) is None  # crossing in under 6 s: nothing
    assert _arrival_time(clock, machine(clock), 10, moving_until=99) == 6.0  # people getting out: at the latest
    no_motion_signal = machine(clock)  # a sensor or plates alone: presence is enough
    t0 = clock.monotonic()
    assert types(feed(no_motion_signal, clock, 3.2, True)) == ["vehicle_arrived"] and clock.monotonic() - t0 > 3.0


def test_arrival_settle_0_is_presence_alone(clock):
    m = BayMachine("A", T.model_copy(update={"arrival_settle_s": 0.0}), lambda c: decide_visit(c.text, c.colour, PlateLists()),
                   clock)
    assert _arrival_time(clock, m, 10, moving_until=99) == 3.0


def test_measured_polarity_only_turns_a_verdict_into_doubt():
    """The visit's verdict from the consensus: a measured polarity can keep a visit from being
    fined or from being NEV, never make one NEV."""
    lists = PlateLists()
    assert decide_visit("皖AD12345", "blue", lists).nev is False  # the colour alone: fuel
    cast = decide_visit("皖AD12345", "blue", lists, dark_chars=True, polarity=0.2)
    assert (cast.nev, cast.reason) == (None, "conflict")
    assert decide_visit("皖AD12345", "blue", lists, dark_chars=True, polarity=0.01).nev is False  # blur, not ink
    # dark print on blue under a civil text is no GA 36 blue plate (a temporary paper plate, review91): in doubt
    assert decide_visit("京A12345", "blue", lists, dark_chars=True, polarity=0.2).nev is None
    assert decide_visit("京A12345", "blue", lists, dark_chars=False, polarity=0.2).nev is False
    # white characters measured on green: no GA 36 NEV plate (a blue one under a green light, a character too many);
    # every frame judged it undecided or "not NEV": the visit is undecided, never NEV
    white = decide_visit("皖AD12345", "green", lists, dark_chars=False, polarity=0.2)
    assert (white.nev, white.reason) == (None, "conflict")
    assert decide_visit("皖AD12345", "green", lists, dark_chars=False, polarity=0.5).nev is None
    assert decide_visit("皖AD12345", "white", lists, dark_chars=False, polarity=0.2).nev is None
    assert decide_visit("皖AD12345", "green", lists, dark_chars=False, polarity=0.01).nev is True  # blur's grey: NEV
    # white no stronger than blur fakes on a small NEV plate (plates-dev's 皖AD00518 at a bay camera's size, blurred:
    # 0.075 pooled over five reads; rendered up to 0.16): the EV stays NEV, no ``unidentified`` violation
    assert decide_visit("皖AD00518", "green", lists, dark_chars=False, polarity=0.075).nev is True
    assert decide_visit("皖AD12345", "green", lists, dark_chars=False, polarity=0.16).nev is True
    allowed = decide_visit("皖AD12345", "green", PlateLists(["皖AD12345"], []), dark_chars=False, polarity=0.5)
    assert (allowed.nev, allowed.reason) == (True, "allow_list")
    # an NEV plate read without its energy letter looks like a civil plate: white measured on it is a polarity
    # error, not a trap (no white-on-green kind has that text): still in doubt
    assert decide_visit("粤B12345", "green", lists, dark_chars=False, polarity=0.3).nev is None
    denied = decide_visit("皖AD12345", "blue", PlateLists([], ["皖AD12345"]), dark_chars=True, polarity=0.2)
    assert (denied.nev, denied.reason) == (False, "deny_list")


def test_a_clearly_read_green_trap_plate_is_identified_not_nev(clock):
    """plate-rules.md: civil aviation (民航…) and agricultural plates are green with white characters —
    green but not NEV; polarity separates them. Every frame said "not NEV", but the visit implied dark
    characters from "green" and stayed undecided: an ``unidentified`` violation at 30 s for a plate read
    perfectly, instead of an identified non-NEV at the fuel grace."""
    for text in ("民航B9016", "皖1946673"):
        m = machine(clock)
        evs = feed(m, clock, 25, True, [read(text, "green", dark_chars=False, polarity=0.3)])
        assert types(evs) == ["vehicle_arrived", "vehicle_identified", "violation_started"]
        # 民航 is no province and no NEV plate carries it: the text decides (format + colour)
        want = "format+colour" if text.startswith("民航") else "colour+polarity"
        assert (evs[1].data["nev"], evs[1].data["reason"]) == (False, want)
        assert evs[2].data["reason"] == "fuel_vehicle"
        feed(m, clock, 6, False)
    lists = PlateLists()
    # an agricultural text (province + 7 digits) is also an NEV serial misread A→4, D→0: it needs white characters
    assert decide_visit("皖1946673", "green", lists).nev is None  # polarity not measured: no fine
    assert decide_visit("皖1946673", "green", lists, dark_chars=False, polarity=0.01).nev is None  # too weak
    # 民航 is no province and no NEV plate carries it: the text decides, whatever polarity blur measured
    assert decide_visit("民航B9016", "green", lists).nev is False
    assert decide_visit("民航B9016", "green", lists, dark_chars=True, polarity=0.2).nev is False
    # white characters measured on green: no GA 36 NEV plate (a blue one under a green light, a character too many);
    # every frame judged it undecided or "not NEV": the visit is undecided, never NEV
    white = decide_visit("皖AD12345", "green", lists, dark_chars=False, polarity=0.2)
    assert (white.nev, white.reason) == (None, "conflict")
    assert decide_visit("皖AD12345", "green", lists, dark_chars=False, polarity=0.5).nev is None
    assert decide_visit("皖AD12345", "white", lists, dark_chars=False, polarity=0.2).nev is None
    assert decide_visit("皖AD12345", "green", lists, dark_chars=False, polarity=0.01).nev is True  # blur's grey: NEV
    allowed = decide_visit("皖AD12345", "green", PlateLists(["皖AD12345"], []), dark_chars=False, polarity=0.5)
    assert (allowed.nev, allowed.reason) == (True, "allow_list")
    # an NEV plate read without its energy letter looks like a civil plate: white measured on it is a polarity
    # error, not a trap (no white-on-green kind has that text): still in doubt
    assert decide_visit("粤B12345", "green", lists, dark_chars=False, polarity=0.3).nev is None
    assert decide_visit("皖AD12345", "green", lists, dark_chars=True, polarity=0.5).nev is True
    allowed = decide_visit("民航B9016", "green", PlateLists(["民航B9016"], []), dark_chars=False, polarity=0.3)
    assert (allowed.nev, allowed.reason) == (True, "allow_list")


def test_an_identified_visit_takes_no_more_reads(clock):
    """The vote decides the visit once; the probes kept reading a parked car's plate into it for as long
    as it stayed (every 10 s: 8,640 reads a day, per bay), never to be counted."""
    m = machine(clock)
    assert types(feed(m, clock, 3.2, True, [read("粤AD12345", "green")])) == ["vehicle_arrived", "vehicle_identified"]
    kept = len(m.vote)
    assert types(feed(m, clock, 600, True, [read("粤AD12345", "green")])) == []
    assert len(m.vote) == kept
    feed(m, clock, 6, False)  # it leaves; the next visit votes afresh
    assert types(feed(m, clock, 3.2, True, [read("京A12345")])) == ["vehicle_arrived", "vehicle_identified"]
    assert m.state().plate == "京A12345"


def covered(text: str, nev: bool | None, colour: str = "green", reason: str = "format+colour") -> PlateRead:
    """A partial read as perception hands it over: ``?`` where the plate showed no character, its
    frame's verdict judged on the plate's colour, length and energy letter."""
    return PlateRead(text=text, confidence=0.3, colour=colour, nev=nev, nev_reason=reason, corners=((0, 0),) * 4,
                     box=(0, 0, 1, 1), type_code="52" if nev else "99", complete=False)


def partial_visit(clock, reads, **kw):  # noqa: ANN001, ANN201
    """A visit whose frames give ``reads`` (one per frame, then none), watched to 40 s."""
    m = machine(clock, **kw)
    evs: list = []
    for r in reads:
        evs += m.step(True, [r])
        clock.advance(0.2)
    return m, evs + feed(m, clock, 40 - 0.2 * len(reads), True)


def test_an_nev_never_read_whole_is_nev_by_its_partial_reads_at_the_unidentified_timeout(clock):
    """Mud over one character: every read partial (no identity), every frame NEV. Before, at 30 s an
    ``unidentified`` violation fined the NEV owner; now three agreeing frames make the visit NEV with its
    partial plate, at that moment (complete reads had until then to identify it), and no violation."""
    m, evs = partial_visit(clock, [covered("皖AD197?9", True)] * 3)
    assert types(evs) == ["vehicle_arrived", "vehicle_identified"]
    d = evs[1].data
    assert d["partial"] is True and d["nev"] is True and d["plate"] == "皖AD197?9" and d["reads"] == 3
    assert d["reason"] == "format+colour" and d["type_code"] == "52"
    st = m.state()
    assert (st.state, st.nev, st.plate) == ("identified", True, "皖AD197?9")


def test_partial_reads_make_a_class_only_when_enough_of_them_agree(clock):
    """Two frames are not ``identify_reads`` (3); one "not NEV" frame among the NEV ones is doubt; undecided
    frames count for nothing: each visit stays ``unidentified``, with its partial plate where at least three
    partial reads were made."""
    for reads in ([covered("皖AD197?9", True)] * 2,
                  [covered("皖AD197?9", True)] * 4 + [covered("皖AD197?9", False, "blue", "colour")],
                  [covered("皖AD197?9", True)] * 2 + [covered("皖AD197?9", None, reason="conflict")] * 5):
        m, evs = partial_visit(clock, reads)
        assert types(evs) == ["vehicle_arrived", "violation_started"], reads
        assert evs[1].data["reason"] == "unidentified" and m.state().nev is None
        if len(reads) > 2:
            assert evs[1].data["partial"] is True and evs[1].data["plate"] == "皖AD197?9"
        else:
            assert "partial" not in evs[1].data and "plate" not in evs[1].data


def test_not_nev_partial_reads_stay_unidentified(clock):
    """A fuel car's plate under mud: the frames agree it is not NEV, but only the allow list tells an EV on a
    blue plate, and a partial plate matches no list — ``unidentified`` as before, never ``fuel_vehicle``."""
    m, evs = partial_visit(clock, [covered("京A12?45", False, "blue", "colour")] * 6)
    assert types(evs) == ["vehicle_arrived", "violation_started"]
    assert evs[1].data == {"reason": "unidentified", "parked_s": 30.0, "plate": "京A12?45", "colour": "blue",
                           "partial": True}


def test_a_list_verdict_on_a_partial_read_says_nothing_of_the_class(clock):
    """A covered character read as another can make a listed plate's text; that frame's list verdict is of a
    plate nobody saw: it counts neither way."""
    m, evs = partial_visit(clock, [covered("京A12?45", True, "blue", "allow_list")] * 5)
    assert types(evs) == ["vehicle_arrived", "violation_started"] and evs[1].data["reason"] == "unidentified"


def test_partial_agreement_after_the_timeout_ends_the_unidentified_violation(clock):
    m = machine(clock)
    evs = feed(m, clock, 34, True)
    assert types(evs) == ["vehicle_arrived", "violation_started"]
    evs = feed(m, clock, 1, True, [covered("皖AD197?9", True)])
    assert types(evs) == ["vehicle_identified", "violation_ended"]
    assert evs[0].data["partial"] is True and evs[1].data["reason"] == "identified"
    assert m.state().state == "identified"


def test_complete_reads_after_a_partial_class_still_identify_the_plate(clock):
    """The mud falls off (or the car moves): the whole plate is read, and the visit gets its identity —
    and with it the lists: a deny-listed plate is a ``deny_list`` violation after the grace."""
    m, evs = partial_visit(clock, [covered("皖AD197?9", True)] * 3, lists=PlateLists(deny={"皖AD19789"}))
    assert types(evs)[-1] == "vehicle_identified" and evs[-1].data["partial"] is True
    evs = feed(m, clock, 1, True, [read("皖AD19789", "green")])
    assert types(evs) == ["vehicle_identified", "violation_started"]
    assert "partial" not in evs[0].data and evs[0].data["plate"] == "皖AD19789"
    assert evs[1].data["reason"] == "deny_list" and m.state().plate == "皖AD19789"


def test_a_visit_nothing_identifies_keeps_a_bounded_vote(clock):
    """A fuel car's plate under mud, parked for hours: read every 5 s (``read_slow_every_s``) for as long as it
    stays, every partial read was kept — 17,280 a day per bay, and a vote redone over all of them after each. The
    vote keeps totals (``tests/bays/test_vote_totals.py``); the story is the same, and a plate read whole later
    still identifies the visit."""
    m = machine(clock)
    evs = feed(m, clock, 40, True, [covered("京A12?45", False, "blue", "colour")])
    assert types(evs) == ["vehicle_arrived", "violation_started"] and evs[1].data["plate"] == "京A12?45"
    evs = feed(m, clock, 7200, True, [covered("京A12?45", False, "blue", "colour")], dt=5.0)  # 1,440 reads
    assert types(evs) == []
    assert m.vote.partial_class(3)[0].total_reads == 1640  # every read counted, none kept
    evs = feed(m, clock, 1, True, [read("京A12345")])
    assert types(evs) == ["vehicle_identified"] and evs[0].data["plate"] == "京A12345"
    evs = feed(m, clock, 6, False)
    assert types(evs) == ["violation_ended", "vehicle_departed"] and evs[1].data["plate"] == "京A12345"


def test_a_class_the_daylight_shows_after_a_night_of_reads_ends_the_unidentified_violation(clock):
    """A green NEV plate under mud parked at dusk: infrared all night, so every partial read is undecided (no
    colour). Daylight shows the green: the partial reads judge it NEV and the ``unidentified`` violation ends
    (a cap of 5,000 kept reads, for a day, dropped the morning's reads: the NEV owner was fined for mud)."""
    m = machine(clock)
    night = covered("粤B?12345", None, "unknown", "unread")
    evs = feed(m, clock, 40, True, [night]) + feed(m, clock, 1800, True, [night], dt=5.0)  # 560 partial reads
    assert types(evs) == ["vehicle_arrived", "violation_started"] and evs[1].data["reason"] == "unidentified"
    evs = feed(m, clock, 30, True, [covered("粤B?12345", True, "green", "colour")], dt=5.0)  # morning: 6 reads
    assert types(evs) == ["vehicle_identified", "violation_ended"], types(evs)
    assert evs[0].data["partial"] is True and evs[1].data["reason"] == "identified"
