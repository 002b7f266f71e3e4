"""A visit whose first frames saw the plate with a character covered (mud, a person's leg, a tow bar) and whose later
frames read it whole: the vote grouped reads by length and the heavier group won, so four 7-character reads of a pale
NEV plate (``皖AD1166``: undecided, dark characters on no hue) outweighed three whole 8-character ones (``皖AD11166``,
NEV) and the visit was never identified — an ``unidentified`` violation for an EV. A cover hides characters and
never adds one: a text that is another with one character left out is the same plate, seen less well."""

from __future__ import annotations

from edge_agent.bays.consensus import PlateVote
from edge_agent.perception.lists import PlateLists
from tests.bays.test_machine import partial_visit, read, types


def _pale(text: str, colour: str):  # noqa: ANN202
    return read(text, colour, dark_chars=True, polarity=0.5)


def test_covered_reads_first_then_whole_ones_identify_the_nev(clock):
    reads = [_pale("皖AD1166", "white")] * 4 + [_pale("皖AD11166", "green")] * 3
    m, evs = partial_visit(clock, reads)
    assert types(evs) == ["vehicle_arrived", "vehicle_identified"], [(e.type, e.data) for e in evs]
    assert evs[1].data["plate"] == "皖AD11166" and evs[1].data["nev"] is True and evs[1].data["reads"] == 3


def test_a_longer_text_read_too_few_times_does_not_stand_for_the_plate(clock):
    """The price guarded: a fuel plate whose frame edge or a screw reads as one character more in two frames stays the
    plate its other frames read, and is fined; three such frames make an 8-character text that is no NEV plate on blue:
    fined all the same."""
    for extra in (2, 3):
        m, evs = partial_visit(clock, [read("京A12345")] * 6 + [read("京A123451")] * extra)
        assert types(evs) == ["vehicle_arrived", "vehicle_identified", "violation_started"], extra
        assert evs[2].data["reason"] == "fuel_vehicle"
        assert evs[1].data["plate"] == "京A12345", extra  # review81: three blue longer reads named 京A123451


def test_an_unrelated_longer_text_does_not_take_the_vote():
    """Two texts the one does not contain the other of (another plate, a misread) are voted by weight, as before."""
    vote = PlateVote()
    for _ in range(4):
        vote.add(_pale("皖AD1166", "white"))
    for _ in range(3):
        vote.add(_pale("粤BD12345", "green"))
    c = vote.result()
    assert c is not None and c.text == "皖AD1166" and c.reads == 4


def test_a_screw_read_as_a_character_on_a_blue_plate_leaves_the_plate_its_shorter_reads_read(clock):
    """review81: a blue 皖AD1234 whose screw read as one more character in three frames (``皖AD12345``, an NEV serial)
    took the vote: the fine named 皖AD12345 (another vehicle's plate), and the operator's allow list, which holds
    皖AD1234, matched nothing — the allowed car was fined. GA 36 prints no 8-character plate on blue: blue longer reads
    are no plate read whole."""
    reads = [read("皖AD1234")] * 4 + [read("皖AD12345")] * 3
    m, evs = partial_visit(clock, reads)
    assert types(evs) == ["vehicle_arrived", "vehicle_identified", "violation_started"]
    assert evs[1].data["plate"] == "皖AD1234" and evs[1].data["nev"] is False
    m, evs = partial_visit(clock, reads, lists=PlateLists(allow={"皖AD1234"}))
    assert types(evs) == ["vehicle_arrived", "vehicle_identified"], [(e.type, e.data) for e in evs]
    assert evs[1].data["plate"] == "皖AD1234" and evs[1].data["nev"] is True


def test_a_blue_plate_lit_green_with_a_screw_read_as_a_character_is_not_let_off(clock):
    """review81: a blue plate under a green light, small and compressed, measures white characters weaker than
    ``colour_rules.BLUR_WHITE_MAX`` (rendered: 0.04–0.197) and stays green, undecided; three frames reading a screw as
    one more character (``皖AD11234``) made the visit NEV by the 8-character text — a fuel car let off. A cover hides a
    character and never changes the ink: only shorter reads that measured black characters are an NEV plate under mud."""
    for white in (0.12, 0.04):  # 0.04: too weak to count as ink either way (``colour_rules.POLARITY_MIN``)
        lit = [read("皖AD1234", "green", dark_chars=False, polarity=white)] * 4
        screw = [read("皖AD11234", "green", dark_chars=False, polarity=white)] * 3
        m, evs = partial_visit(clock, lit + screw)
        assert all(e.data.get("nev") is not True for e in evs), (white, [(e.type, e.data) for e in evs])
        assert types(evs) == ["vehicle_arrived", "violation_started"] and evs[1].data["reason"] == "unidentified"
